"""Certificates: the decoder's limits and every way a delegation chain can be wrong."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hartnode.attestation.certificate import (
    CERT_SIG_CONTEXT,
    CERTIFICATE_REASONS,
    MAX_CAPABILITIES,
    MAX_CERT_BYTES,
    CertificateError,
    ChainError,
    SignedCertificate,
    VerifiedTier,
    chain_file_bytes,
    decode_certificate,
    decode_chain,
    effective_tier,
    issue_certificate,
    parse_chain_file,
    verify_chain,
)
from hartnode.attestation.revocation import RevocationList
from hartnode.canonical import canonical_bytes
from hartnode.identity import NodeIdentity

DAY = 86_400_000
NOW = 1_750_000_000_000


def key(n: int) -> NodeIdentity:
    return NodeIdentity.from_seed(bytes([n]) * 32)


MASTER, CENTRAL, REGIONAL, LOCAL, OTHER, OTHER_MASTER = (key(n) for n in range(1, 7))

# The valid chain: master -> central -> regional -> local. Each spec is
# (issuer, subject, fields); tests replace single fields to make one mutation.
Spec = tuple[NodeIdentity, NodeIdentity, dict[str, Any]]


def specs() -> list[Spec]:
    return [
        (MASTER, CENTRAL, dict(tier="central", region="*", not_before=NOW - 10 * DAY,
                               not_after=NOW + 365 * DAY, path_len=2,
                               capabilities=["arbitrate", "mint", "sync"])),
        (CENTRAL, REGIONAL, dict(tier="regional", region="eu-west", not_before=NOW - 5 * DAY,
                                 not_after=NOW + 180 * DAY, path_len=1,
                                 capabilities=["arbitrate", "sync"])),
        (REGIONAL, LOCAL, dict(tier="local", region="eu-west", not_before=NOW - DAY,
                               not_after=NOW + 30 * DAY, path_len=0, capabilities=["sync"])),
    ]


def build(chain_specs: list[Spec]) -> list[SignedCertificate]:
    return [issue_certificate(issuer, serial=f"{i + 1:032x}", subject=subject.node_id, **f)
            for i, (issuer, subject, f) in enumerate(chain_specs)]


def mutate(index: int, **fields: Any) -> list[SignedCertificate]:
    s = specs()
    s[index][2].update(fields)
    return build(s)


def verify(chain: Any, *, now: int = NOW, master: NodeIdentity = MASTER,
           revocations: RevocationList | None = None,
           presenter: str | None = None) -> VerifiedTier:
    if presenter is None:
        presenter = chain[-1].cert.subject if chain and isinstance(chain[-1],
                                                                   SignedCertificate) else ""
    return verify_chain(chain, master_public_key=master.public_key, now_ms=now,
                        revocations=revocations, presenter_node_id=presenter)


def reason(fn: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ChainError) as info:
        fn()
    return info.value.reason, info.value.hop_index


# --- the valid chain -----------------------------------------------------------------------


def test_valid_three_link_chain_grants_the_last_links_tier() -> None:
    chain = build(specs())
    granted = verify(chain)
    assert granted == VerifiedTier(node_id=LOCAL.node_id, tier="local", region="eu-west",
                                   capabilities=("sync",), not_after_ms=NOW + 30 * DAY,
                                   serials=(f"{1:032x}", f"{2:032x}", f"{3:032x}"))
    # The wire form (raw pairs) verifies the same.
    assert verify([link.to_wire() for link in chain], presenter=LOCAL.node_id) == granted


@pytest.mark.parametrize("length", [1, 2])
def test_shorter_chains_grant_their_last_tier(length: int) -> None:
    granted = verify(build(specs()[:length]))
    assert granted.tier == ("central", "regional")[length - 1]


def test_tiers_may_be_skipped_but_never_climbed() -> None:
    s = specs()
    direct = [(MASTER, REGIONAL, s[1][2])]  # the master may certify a regional directly
    assert verify(build(direct)).tier == "regional"


def test_validity_boundaries_are_inclusive_then_exclusive() -> None:
    chain = build(specs())
    assert verify(chain, now=NOW - DAY).tier == "local"  # == local not_before
    assert reason(lambda: verify(chain, now=NOW + 30 * DAY)) == ("expired", 2)


# --- every mutation is rejected ------------------------------------------------------------

# A window inside every window of the valid chain, so only the tested rule fails.
INSIDE = dict(not_before=NOW - DAY, not_after=NOW + DAY)
MUTATIONS: dict[str, tuple[Callable[[], list[SignedCertificate]], str, int]] = {
    "local not yet valid": (lambda: mutate(2, not_before=NOW + 1, not_after=NOW + DAY),
                            "not_yet_valid", 2),
    "local expired": (lambda: mutate(2, not_before=NOW - 2 * DAY, not_after=NOW),
                      "expired", 2),
    "central expired": (lambda: mutate(0, not_after=NOW - 1), "expired", 0),
    "local ends after regional": (lambda: mutate(2, not_after=NOW + 181 * DAY),
                                  "window_not_nested", 2),
    "local starts before regional": (lambda: mutate(2, not_before=NOW - 6 * DAY),
                                     "window_not_nested", 2),
    "regional ends after central": (lambda: mutate(1, not_after=NOW + 366 * DAY),
                                    "window_not_nested", 1),
    "local region widened": (lambda: mutate(2, region="us-east"), "region_widened", 2),
    "regional outside a regional central": (
        lambda: build([(MASTER, CENTRAL, {**specs()[0][2], "region": "us-east"}),
                       *specs()[1:]]), "region_widened", 1),
    "local capability widened": (lambda: mutate(2, capabilities=["mint"]),
                                 "capabilities_widened", 2),
    "regional capability widened": (lambda: mutate(1, capabilities=["admin", "sync"]),
                                    "capabilities_widened", 1),
    "regional issues central": (
        lambda: build([(MASTER, REGIONAL, specs()[1][2]),
                       (REGIONAL, CENTRAL, {**specs()[0][2], **INSIDE, "path_len": 0})]),
        "tier_not_below", 1),
    "central issues central": (
        lambda: build([specs()[0], (CENTRAL, OTHER, {**specs()[0][2], "path_len": 1})]),
        "tier_not_below", 1),
    "local issues local": (
        lambda: build([specs()[0], (CENTRAL, LOCAL, specs()[2][2]),
                       (LOCAL, OTHER, specs()[2][2])]), "tier_not_below", 2),
    "local issues regional": (
        lambda: build([(MASTER, LOCAL, specs()[2][2]),
                       (LOCAL, REGIONAL, {**specs()[1][2], **INSIDE, "path_len": 0})]),
        "tier_not_below", 1),
    "central path_len 0 issues": (lambda: mutate(0, path_len=0), "path_len", 1),
    "path_len not decreasing": (lambda: mutate(0, path_len=1), "path_len", 1),
    "chain deeper than central allows": (
        lambda: build([(MASTER, CENTRAL, {**specs()[0][2], "path_len": 1}),
                       (CENTRAL, REGIONAL, {**specs()[1][2], "path_len": 0}),
                       specs()[2]]), "path_len", 2),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_each_mutation_is_rejected_at_its_link(name: str) -> None:
    make, expected_reason, hop = MUTATIONS[name]
    assert reason(lambda: verify(make())) == (expected_reason, hop)


def test_more_links_than_the_hierarchy_has_is_too_long() -> None:
    chain = build(specs())
    assert reason(lambda: verify([*chain, chain[-1]]))[0] == "too_long"
    assert reason(lambda: verify([])) == ("empty", 0)


@pytest.mark.parametrize("hop", [0, 1, 2])
def test_revoked_serial_or_subject_at_any_link(hop: int) -> None:
    chain = build(specs())
    by_serial = RevocationList.build(seq=1, issued_ms=NOW, serials=[chain[hop].cert.serial])
    by_subject = RevocationList.build(seq=1, issued_ms=NOW, subjects=[chain[hop].cert.subject])
    unrelated = RevocationList.build(seq=1, issued_ms=NOW, serials=["f" * 32],
                                     subjects=[OTHER.node_id])
    assert reason(lambda: verify(chain, revocations=by_serial)) == ("revoked_serial", hop)
    assert reason(lambda: verify(chain, revocations=by_subject)) == ("revoked_subject", hop)
    assert verify(chain, revocations=unrelated).tier == "local"


def test_a_valid_chain_presented_by_another_node() -> None:
    chain = build(specs())
    assert reason(lambda: verify(chain, presenter=OTHER.node_id)) == ("presenter_mismatch", 2)
    # The regional cannot borrow its child's chain either.
    assert reason(lambda: verify(chain, presenter=REGIONAL.node_id))[0] == "presenter_mismatch"


def test_wrong_master_key() -> None:
    chain = build(specs())
    assert reason(lambda: verify(chain, master=OTHER_MASTER)) == ("wrong_issuer", 0)
    # A whole chain from another master is just as foreign.
    foreign = build([(OTHER_MASTER, CENTRAL, specs()[0][2]), *specs()[1:]])
    assert reason(lambda: verify(foreign)) == ("wrong_issuer", 0)


@pytest.mark.parametrize("hop", [0, 1, 2])
def test_issuer_field_naming_the_right_key_but_signed_by_another(hop: int) -> None:
    chain = build(specs())
    forged = chain[hop].cert.canonical()  # issuer field stays the expected key
    sig = OTHER.sign(CERT_SIG_CONTEXT + forged)
    chain[hop] = SignedCertificate.decode(forged, sig)
    assert reason(lambda: verify(chain)) == ("bad_signature", hop)


def test_signature_without_the_context_label_is_refused() -> None:
    chain = build(specs()[:1])
    raw = MASTER.sign(chain[0].cert_bytes)  # as if signed by another protocol
    assert reason(lambda: verify([(chain[0].cert_bytes, raw)],
                                 presenter=CENTRAL.node_id)) == ("bad_signature", 0)


@pytest.mark.parametrize("order", [p for p in itertools.permutations(range(3))
                                   if p != (0, 1, 2)])
def test_reordered_chain(order: tuple[int, ...]) -> None:
    chain = build(specs())
    reordered = [chain[i] for i in order]
    with pytest.raises(ChainError):
        verify(reordered, presenter=LOCAL.node_id)


def test_a_missing_middle_link() -> None:
    chain = build(specs())
    assert reason(lambda: verify([chain[0], chain[2]])) == ("wrong_issuer", 1)


def test_every_tampered_byte_of_every_certificate_and_signature() -> None:
    wire = [link.to_wire() for link in build(specs())]
    for hop, (cert_bytes, sig) in enumerate(wire):
        for field_index, data in enumerate((cert_bytes, sig)):
            for pos in range(len(data)):
                bad = bytearray(data)
                bad[pos] ^= 0x01
                pairs = list(wire)
                pairs[hop] = ((bytes(bad), sig) if field_index == 0 else (cert_bytes, bytes(bad)))
                got = reason(lambda p=pairs: verify(p, presenter=LOCAL.node_id))  # type: ignore[misc]
                assert got[1] == hop, (hop, field_index, pos, got)
                assert got[0] in {"malformed", "bad_signature", "wrong_issuer"}, got


def test_hand_built_fields_that_disagree_with_the_signed_bytes_do_not_count() -> None:
    chain = build(specs())
    escalated = replace(chain[2].cert, tier="regional", path_len=1, region="eu-west")
    chain[2] = SignedCertificate(escalated, chain[2].cert_bytes, chain[2].signature)
    assert verify(chain).tier == "local"  # what was signed, not what was claimed


def test_effective_tier_is_flat_without_a_valid_chain() -> None:
    kwargs: dict[str, Any] = dict(master_public_key=MASTER.public_key, now_ms=NOW,
                                  revocations=None, presenter_node_id=LOCAL.node_id)
    assert effective_tier(None, **kwargs) == (VerifiedTier.flat(LOCAL.node_id), None)
    standing, error = effective_tier(build(specs()), **kwargs)
    assert (standing.tier, error) == ("local", None)
    standing, error = effective_tier(mutate(2, region="us-east"), **kwargs)
    assert standing.is_flat and error is not None and error.reason == "region_widened"


@pytest.mark.parametrize("pairs", [[b"x"], [(b"x",)], [("text", b"s" * 64)], [(b"{}", "sig")],
                                   [None]])
def test_decode_chain_refuses_non_pairs(pairs: Any) -> None:
    assert reason(lambda: decode_chain(pairs)) == ("malformed", 0)


def test_master_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        verify_chain(build(specs()), master_public_key=b"short", now_ms=NOW,
                     revocations=None, presenter_node_id=LOCAL.node_id)


# --- the certificate decoder ---------------------------------------------------------------

GOOD = build(specs())[1]


def cert_reason(data: bytes) -> str:
    with pytest.raises(CertificateError) as info:
        decode_certificate(data)
    return info.value.reason


def with_fields(**changes: Any) -> bytes:
    obj = {**GOOD.cert.to_json(), **changes}
    return canonical_bytes({k: v for k, v in obj.items() if v is not DROP})


DROP = object()


def test_decode_round_trip() -> None:
    assert decode_certificate(GOOD.cert_bytes) == GOOD.cert
    assert GOOD.cert.canonical() == GOOD.cert_bytes


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "malformed"),
    (b"\xff\xfe", "malformed"),
    (b"[]", "malformed"),
    (b"x" * (MAX_CERT_BYTES + 1), "too_large"),
    (b"[" * 3000, "malformed"),
    (b'{"a":1,"a":1}', "malformed"),
    (b'{"a":1.5}', "malformed"),
    (b'{"a":NaN}', "malformed"),
    (b'{"a": 1}', "not_canonical"),
    (b'{"b":1,"a":2}', "not_canonical"),
    (b'{"a":"\\ud800"}', "not_canonical"),
    (b'{"a":9007199254740993}', "not_canonical"),
])
def test_malformed_bytes(data: bytes, expected: str) -> None:
    assert cert_reason(data) == expected


def test_trailing_bytes_and_every_prefix_are_refused() -> None:
    assert cert_reason(GOOD.cert_bytes + b" ") in {"malformed", "not_canonical"}
    assert cert_reason(GOOD.cert_bytes + b"{}") == "malformed"
    for cut in range(len(GOOD.cert_bytes)):
        assert cert_reason(GOOD.cert_bytes[:cut]) == "malformed", cut


def test_pretty_printed_json_is_not_canonical() -> None:
    assert cert_reason(json.dumps(GOOD.cert.to_json(), indent=1).encode()) == "not_canonical"


@pytest.mark.parametrize("changes", [
    dict(path_len=DROP), dict(extra=1), dict(serial="A" * 32), dict(serial="0" * 31),
    dict(subject="ab"), dict(issuer=1), dict(tier="master"), dict(tier="flat"),
    dict(region=""), dict(region="*"), dict(region="EU"), dict(region="a" * 64),
    dict(not_before=-1), dict(not_after=True), dict(not_before=NOW + 200 * DAY),
    dict(path_len=2), dict(path_len=True), dict(capabilities="sync"),
    dict(capabilities=["sync", "arbitrate"]), dict(capabilities=["sync", "sync"]),
    dict(capabilities=[1]), dict(capabilities=["Sync"]),
    dict(capabilities=[f"c{i:03}" for i in range(MAX_CAPABILITIES + 1)]),
])
def test_invalid_fields(changes: dict[str, Any]) -> None:
    assert cert_reason(with_fields(**changes)) == "bad_field"


@pytest.mark.parametrize("version", [0, 2, "1", True])
def test_unsupported_version(version: object) -> None:
    assert cert_reason(with_fields(v=version)) == "unsupported_version"


def test_signature_must_be_64_bytes() -> None:
    for sig in (b"", GOOD.signature[:63], GOOD.signature + b"\0"):
        with pytest.raises(CertificateError, match="bad_field"):
            SignedCertificate.decode(GOOD.cert_bytes, sig)
    with pytest.raises(CertificateError, match="malformed"):
        SignedCertificate.decode(bytearray(GOOD.cert_bytes), GOOD.signature)  # type: ignore[arg-type]


def test_building_an_invalid_certificate_raises_the_typed_error() -> None:
    with pytest.raises(CertificateError):
        replace(GOOD.cert, region="*")
    with pytest.raises(CertificateError):
        issue_certificate(MASTER, serial="0" * 32, subject=LOCAL.node_id, tier="local",
                          region="eu", not_before=5, not_after=5, path_len=0, capabilities=[])


@settings(max_examples=1500)
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_certificate_error(data: bytes) -> None:
    try:
        decode_certificate(data)
    except CertificateError as e:
        assert e.reason in CERTIFICATE_REASONS


@settings(max_examples=800)
@given(st.data())
def test_mutated_certificates_only_raise_certificate_error(data: st.DataObject) -> None:
    buf = bytearray(GOOD.cert_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode_certificate(bytes(buf))
    except CertificateError as e:
        assert e.reason in CERTIFICATE_REASONS


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(
                        st.sampled_from(sorted(GOOD.cert.to_json())) | st.text(max_size=3),
                        c, max_size=11), max_leaves=20)


@settings(max_examples=200)
@given(JSON)
def test_arbitrary_json_only_raises_certificate_error(value: object) -> None:
    try:
        data = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
        decode_certificate(data)
    except CertificateError as e:
        assert e.reason in CERTIFICATE_REASONS


# --- the chain file ------------------------------------------------------------------------


def test_chain_file_round_trip_and_format() -> None:
    chain = build(specs())
    data = chain_file_bytes(chain)
    assert parse_chain_file(data) == tuple(chain)
    entries = json.loads(data)
    assert [set(e) for e in entries] == [{"cert", "sig"}] * 3
    assert entries[0]["cert"]["issuer"] == MASTER.node_id
    # Re-encoded by hand (key order, spacing): the signed JCS bytes are recomputed.
    reformatted = json.dumps(entries, indent=4).encode()
    assert parse_chain_file(reformatted) == tuple(chain)


@pytest.mark.parametrize("doc", [
    "{}", "[]", "[1]", '[{"cert": {}}]', '[{"cert": {}, "sig": "00", "x": 1}]',
    '[{"cert": [], "sig": "00"}]', '[{"cert": {}, "sig": 5}]',
])
def test_bad_chain_file_shapes(doc: str) -> None:
    with pytest.raises(CertificateError):
        parse_chain_file(doc.encode())


def test_chain_file_link_errors_name_the_link() -> None:
    entries = json.loads(chain_file_bytes(build(specs())))
    for broken, expected in (({**entries[1], "sig": entries[1]["sig"].upper()}, "malformed"),
                             ({**entries[1], "sig": "ab"}, "bad_field"),
                             ({**entries[1], "cert": {**entries[1]["cert"], "tier": "x"}},
                              "bad_field")):
        doc = json.dumps([entries[0], broken]).encode()
        with pytest.raises(CertificateError) as info:
            parse_chain_file(doc)
        assert info.value.reason == expected and "link 1" in str(info.value)
    with pytest.raises(CertificateError, match="malformed"):
        parse_chain_file(json.dumps([*entries, entries[0]]).encode())
    floats = [entries[0], {**entries[1], "cert": {**entries[1]["cert"], "path_len": 1.0}}]
    with pytest.raises(CertificateError, match="malformed"):  # refused before any link
        parse_chain_file(json.dumps(floats).encode())
    with pytest.raises(CertificateError, match="too_large"):
        parse_chain_file(b" " * (64 << 10) + b"[]")


@settings(max_examples=1000)
@given(st.binary(max_size=400))
def test_random_chain_files_only_raise_certificate_error(data: bytes) -> None:
    try:
        parse_chain_file(data)
    except CertificateError as e:
        assert e.reason in CERTIFICATE_REASONS
