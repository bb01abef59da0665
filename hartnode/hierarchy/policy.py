"""``policy.notice.published``: a notice a central or regional sends down its subtree.

The first policy kind (DESIGN §3: policy flows down). Release manifests and
reward grants will join the ``policy.`` namespace with their apps; this one
carries an operator's text (a release announcement, a maintenance window)
and lets the downward path be exercised end to end:

    hartnode ledger append --kind policy.notice.published --reach hierarchy \\
        --payload '{"text": "upgrade to 0.3 by Friday"}'

It may only travel with ``hierarchy`` reach: the nodes below receive it over
their parent links, nobody else sees more than its ``Withheld`` marker.
"""

from __future__ import annotations

from hartnode.ledger.kinds import KindRegistry, KindSpec, Obj, Str
from hartnode.ledger.views import ViewRegistry

POLICY_NOTICE_PUBLISHED = KindSpec(
    kind="policy.notice.published",
    payload=Obj({"text": Str(min_len=1, max_len=2000)}),
    reaches=frozenset({"hierarchy"}),
    doc="A notice for every node below the publisher in the hierarchy.",
)


def register(kinds: KindRegistry, views: ViewRegistry) -> None:
    kinds.register(POLICY_NOTICE_PUBLISHED)
