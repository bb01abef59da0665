"""Signed peer records: validation, seq ordering, tier claims, ageing."""

from __future__ import annotations

import dataclasses
import time
import typing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hartnode import cert_commands as commands
from hartnode.attestation.certificate import VerifiedTier
from hartnode.cert_commands import read_chain
from hartnode.config import Config
from hartnode.datadir import DataDir
from hartnode.gossip import wire
from hartnode.gossip.peer_record import (
    BROADCAST_OVERHEAD_BYTES,
    PeerRecordError,
    PeerRecordMessage,
    PeerTable,
    announce_interval,
    decode_peer_record,
    sign_peer_record,
)
from hartnode.identity import NodeIdentity

ALICE = NodeIdentity.from_seed(b"\x01" * 32)
BOB = NodeIdentity.from_seed(b"\x02" * 32)
TTL = 30_000


def record(identity: NodeIdentity = ALICE, seq: int = 1, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = dict(addrs=("ws://127.0.0.1:6778/hart",), tier="flat",
                                   region="eu-west", seq=seq, ts_ms=1000)
    args.update(kw)
    return sign_peer_record(identity, **args)  # type: ignore[arg-type]


def test_round_trip_over_the_wire() -> None:
    rec = record()
    again = decode_peer_record(wire.decode(wire.encode(rec.message)))
    assert again == rec and again.reachable


def test_nat_node_without_addresses_is_not_reachable() -> None:
    assert not record(addrs=()).reachable


@pytest.mark.parametrize("field_name", ["body", "sig"])
def test_any_flipped_byte_is_refused(field_name: str) -> None:
    msg = record().message
    blob = getattr(msg, field_name)
    for i in range(0, len(blob), 7):
        flipped = blob[:i] + bytes([blob[i] ^ 4]) + blob[i + 1:]
        bad = dataclasses.replace(msg, **{field_name: flipped})
        with pytest.raises(PeerRecordError):
            decode_peer_record(bad)


def test_a_record_signed_by_another_key_is_refused() -> None:
    msg = record().message
    forged = dataclasses.replace(msg, sig=BOB.sign(b"hartnode/peer-record/1\x00" + msg.body))
    with pytest.raises(PeerRecordError) as err:
        decode_peer_record(forged)
    assert err.value.reason == "bad_signature"


@given(st.binary(max_size=200), st.binary(max_size=80))
def test_garbage_only_raises_the_typed_error(body: bytes, sig: bytes) -> None:
    with pytest.raises(PeerRecordError):
        decode_peer_record(PeerRecordMessage(body, sig, (), ()))


def test_lower_seq_never_wins_and_status_ages() -> None:
    table = PeerTable(self_id=BOB.node_id, ttl_ms=TTL)
    assert table.observe(record(seq=5), now_ms=0)
    assert not table.observe(record(seq=4, region="us-east"), now_ms=1)
    assert not table.observe(record(seq=5, region="us-east"), now_ms=1)
    assert table.entries[ALICE.node_id].record.region == "eu-west"
    assert table.status(ALICE.node_id, TTL) == "active"
    assert table.status(ALICE.node_id, TTL + 1) == "stale"
    assert table.status(ALICE.node_id, 3 * TTL + 1) == "dead"
    table.seen(ALICE.node_id, 3 * TTL)
    assert table.status(ALICE.node_id, 3 * TTL + 1) == "active"
    assert table.forget_dead(10 * TTL, after_ms=5 * TTL) == [ALICE.node_id]


@given(st.integers(0, 1_000_000), st.integers(100, 4096),
       st.sampled_from([512.0, 128.0, 32.0]), st.sampled_from([1.0, 60.0, 600.0]))
def test_record_refreshes_stay_within_the_budget_at_any_network_size(
        known: int, size: int, budget: float, base: float) -> None:
    interval = announce_interval(base, known, size, budget)
    assert interval >= base
    # What every node takes in: each of the network's nodes refreshes once an interval.
    taken_in = (known + 1) * (size + BROADCAST_OVERHEAD_BYTES) / interval
    assert taken_in <= budget * (1 + 1e-9) or interval == base


def test_small_networks_keep_the_configured_interval_large_ones_stretch_it() -> None:
    assert announce_interval(60.0, 50, 320, 512.0) == 60.0
    assert announce_interval(60.0, 999, 320, 512.0) == pytest.approx(1000 * 480 / 512)
    # Ten times the nodes, ten times the interval: the per-node cost stays flat.
    assert announce_interval(60.0, 9999, 320, 512.0) == pytest.approx(
        10 * announce_interval(60.0, 999, 320, 512.0))


def test_own_record_is_ignored() -> None:
    assert not PeerTable(self_id=ALICE.node_id, ttl_ms=TTL).observe(record(), now_ms=0)


def test_tier_claim_needs_a_valid_chain(tmp_path: Path) -> None:
    master_file = tmp_path / "master.key"
    mk = commands.master_init(master_file).data["master_public_key"]
    node = DataDir(tmp_path / "n")
    identity = node.init(Config())
    commands.cert_issue(master_file, None, identity.node_id, "regional", "eu-west", None, (),
                        None, tmp_path / "chain")
    chain = tuple(link.to_wire() for link in read_chain(tmp_path / "chain"))
    table = PeerTable(self_id=BOB.node_id, ttl_ms=TTL, master_public_key=bytes.fromhex(mk))
    now = time.time_ns() // 1_000_000
    table.observe(record(identity, tier="regional", chain=chain), now)
    assert table.tier_of(identity.node_id) == "regional"
    # The same claim without the chain, or by a node the chain is not for: flat, counted.
    table.observe(record(ALICE, tier="central"), now)
    impostor = NodeIdentity.from_seed(b"\x03" * 32)
    table.observe(record(impostor, tier="regional", chain=chain), now)
    assert table.tier_of(ALICE.node_id) == "flat"
    assert table.counts["tier_unverified"] == 2


# --- bounds (issue #8.7) ---------------------------------------------------------------------


def test_a_junk_chain_is_refused_at_decode_flat_or_not() -> None:
    message = record().message
    junk = dataclasses.replace(message, chain_certs=(b"x" * 900_000,), chain_sigs=(b"s" * 64,))
    with pytest.raises(PeerRecordError) as info:
        decode_peer_record(junk)
    assert info.value.reason == "too_large"
    small_junk = dataclasses.replace(message, chain_certs=(b"x" * 100,), chain_sigs=(b"s" * 64,))
    with pytest.raises(PeerRecordError) as info:
        decode_peer_record(small_junk)  # a flat record has no claim for a chain to prove
    assert str(info.value) == "bad_field: chain on a flat record"
    long_sig = dataclasses.replace(message, sig=message.sig + b"\0" * 1000)
    with pytest.raises(PeerRecordError) as info:
        decode_peer_record(long_sig)
    assert info.value.reason == "bad_signature"


def test_signing_a_flat_record_leaves_the_chain_out() -> None:
    signed = record(chain=((b"cert", b"s" * 64),))
    assert signed.message.chain_certs == () and decode_peer_record(signed.message) == signed


def _certify(table: PeerTable, node_id: str) -> None:
    """Mark an entry as certified (the chain checks have tests of their own)."""
    table.entries[node_id].verified = typing.cast(VerifiedTier, object())


def test_the_table_is_bounded_and_evicts_unverified_records_oldest_first() -> None:
    table = PeerTable(ALICE.node_id, ttl_ms=TTL, max_entries=3)
    peers = [NodeIdentity.from_seed(bytes([10 + i]) * 32) for i in range(6)]
    for i, p in enumerate(peers[:3]):
        assert table.observe(record(p), 1000 + i)
    _certify(table, peers[0].node_id)
    assert table.observe(record(peers[3]), 2000)  # evicts peers[1], the oldest unverified
    assert set(table.entries) == {p.node_id for p in (peers[0], peers[2], peers[3])}
    for p in (peers[2], peers[3]):
        _certify(table, p.node_id)
    # Full of certified peers: an unverified newcomer is refused, nothing is evicted.
    assert not table.observe(record(peers[4]), 3000)
    assert table.counts["table_full"] == 1 and len(table.entries) == 3
    assert table.counts["evicted"] == 1
    # A newer record of a peer already held still replaces it.
    assert table.observe(record(peers[0], seq=2), 3000)


def test_unverified_peers_drive_the_announce_interval_up_to_half_the_table() -> None:
    table = PeerTable(ALICE.node_id, ttl_ms=TTL)
    table.limit_to(16)
    peers = [NodeIdentity.from_seed(bytes([40 + i]) * 32) for i in range(12)]
    for p in peers[:6]:
        table.observe(record(p), 1000)
    assert table.announce_peers() == 6  # a flat honest network counts, as before issue #8
    for p in peers[6:]:
        table.observe(record(p), 1000)
    assert table.announce_peers() == 8  # records anyone could make count up to half the table
    for p in peers[:3]:
        _certify(table, p.node_id)
    assert table.announce_peers() == 3 + 8  # certified ones always count
