"""The landing store's own edge cases, against a real writer process."""

from __future__ import annotations

import asyncio
import os
import signal
import time

from receiver.store import LandingStore, StoreUnavailable


async def land_while_the_writer_dies_during_close(store: LandingStore) -> Exception | None:
    store.open()
    await store.start()
    pid = store.writer_pid
    os.kill(pid, signal.SIGSTOP)  # it cannot answer the batch sent next
    landing = asyncio.create_task(store.land((b"{}", "evt_1", (None,) * 5, time.time())))
    await asyncio.sleep(0.05)  # the batch's 2 ms window ends: it is on its way
    closing = asyncio.create_task(store.close())
    await asyncio.sleep(0.05)  # close() waits for the answer to the batch in flight
    os.kill(pid, signal.SIGKILL)
    await asyncio.wait_for(closing, timeout=20)  # the writer's death must end the wait
    try:
        await landing
    except StoreUnavailable as exc:
        return exc
    return None


def test_a_writer_dying_while_the_store_closes_answers_503_and_close_returns(tmp_path):
    store = LandingStore(tmp_path / "landing.duckdb", memory_limit_mb=16)
    outcome = asyncio.run(land_while_the_writer_dies_during_close(store))
    assert isinstance(outcome, StoreUnavailable)  # 503 for the sender, who retries
    assert not store.is_open
