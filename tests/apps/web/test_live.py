"""The web UI's event stream hub (issue #13): bounded in clients, queue and message size.

asyncio, as in aiohttp's thread: each test runs its own loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from hartnode.apps.web import live
from hartnode.apps.web.live import LiveHub, TooManyClientsError, stream_messages


async def _drain(queue: asyncio.Queue[object]) -> list[object]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


def test_messages_reach_every_client_in_order() -> None:
    async def main() -> list[list[object]]:
        hub = LiveHub()
        hub.attach(asyncio.get_running_loop())
        a, b = hub.open_client(), hub.open_client()
        hub.publish("ledger", {"n": 1})
        hub.publish("status", {"n": 2})
        await asyncio.sleep(0)  # call_soon_threadsafe runs on the next loop turn
        return [await _drain(a), await _drain(b)]

    got_a, got_b = asyncio.run(main())
    assert got_a == got_b
    assert [json.loads(text)["type"] for _, text in got_a] == ["ledger", "status"]  # type: ignore[misc]


def test_the_client_count_is_bounded() -> None:
    async def main() -> None:
        hub = LiveHub()
        queues = [hub.open_client() for _ in range(live.MAX_CLIENTS)]
        with pytest.raises(TooManyClientsError):
            hub.open_client()
        hub.release(queues[0])
        hub.open_client()  # a slot freed

    asyncio.run(main())


def test_a_client_that_falls_behind_is_disconnected_not_buffered() -> None:
    async def main() -> tuple[int, int, list[object]]:
        hub = LiveHub()
        hub.attach(asyncio.get_running_loop())
        slow = hub.open_client()
        for i in range(live.QUEUE_MAX + 5):
            hub.publish("ledger", {"i": i})
        await asyncio.sleep(0)
        chunks = [c async for c in stream_messages(slow, heartbeat_s=0.01)]
        return hub.client_count, hub.dropped_clients, chunks

    clients, dropped, chunks = asyncio.run(main())
    assert clients == 0 and dropped == 1
    assert len(chunks) <= live.QUEUE_MAX + 1  # what was queued, then the end of the stream


def test_nothing_is_queued_without_listeners_and_oversized_messages_become_resync() -> None:
    async def main() -> list[object]:
        hub = LiveHub()
        hub.publish("ledger", {"early": True})  # not attached yet: dropped quietly
        hub.attach(asyncio.get_running_loop())
        hub.publish("ledger", {"nobody": True})
        q = hub.open_client()
        hub.publish("ledger", {"big": "x" * live.MAX_MESSAGE_BYTES})
        await asyncio.sleep(0)
        return await _drain(q)

    got = asyncio.run(main())
    assert len(got) == 1
    assert json.loads(got[0][1])["type"] == "resync"  # type: ignore[index]


def test_a_stream_ends_when_the_hub_closes_and_sends_keepalives_meanwhile() -> None:
    async def main() -> list[bytes]:
        hub = LiveHub()
        hub.attach(asyncio.get_running_loop())
        q = hub.open_client()
        asyncio.get_running_loop().call_later(0.05, hub.close)
        return [c async for c in stream_messages(q, heartbeat_s=0.01)]

    chunks = asyncio.run(main())
    assert chunks[0].startswith(b"retry:")
    assert b": keep-alive\n\n" in chunks


def test_a_stream_ends_at_its_lifetime() -> None:
    async def main() -> list[bytes]:
        hub = LiveHub()
        q = hub.open_client()
        return [c async for c in stream_messages(q, max_s=0.03, heartbeat_s=0.01)]

    assert asyncio.run(main())[0].startswith(b"retry:")  # and it returned at all
