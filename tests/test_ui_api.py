"""The web UI's read routes (issue #13): what a query may ask for; bad input is a 400 naming it.

The routes themselves run against real daemons in tests/apps/web/test_browser.py.
"""

from __future__ import annotations

import pytest

from hartnode.ledger.explorer import PAGE_MAX, PageQuery
from hartnode.routes import ApiRequest, ApiRequestError
from hartnode.ui_api import page_query


def q(**query: str) -> ApiRequest:
    return ApiRequest(query=query)


def test_a_page_query_reads_its_filters() -> None:
    assert page_query(q()) == PageQuery()
    assert page_query(q(n="5", before="90", kind="social.*", origin="AB" * 32)) == PageQuery(
        n=5, before=90, kind="social.*", origin="ab" * 32)
    assert page_query(q(kind="trust.fraud_alert.raised")).kind == "trust.fraud_alert.raised"


@pytest.mark.parametrize(("query", "names"), [
    ({"n": "0"}, "n"), ({"n": str(PAGE_MAX + 1)}, "n"), ({"n": "x"}, "n"),
    ({"before": "-1"}, "before"), ({"kind": "a b"}, "kind"), ({"kind": "%"}, "kind"),
    ({"kind": "x" * 101}, "kind"), ({"kind": "social.*.x"}, "kind"),
    ({"origin": "abc"}, "origin"), ({"origin": "zz" * 32}, "origin"),
])
def test_bad_input_is_a_400_naming_the_field(query: dict[str, str], names: str) -> None:
    with pytest.raises(ApiRequestError, match=names):
        page_query(ApiRequest(query=query))
