"""The server stays responsive while the review database is locked by another process.

A decision waits for SQLite's write lock (a kernel drafting, another server deciding); that wait
must happen on a worker thread, never on the event loop that serves all of Jupyter.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from coassist.review import open_store, review_queue
from tests.test_server_handlers import USER_HEADER

pytest_plugins = ["pytest_jupyter.jupyter_server"]

LOCK_SECONDS = 6.0

HOLD_THE_WRITE_LOCK = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("UPDATE drafts SET version = version WHERE id < 0")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("COMMIT")
"""




async def test_api_status_answers_while_a_decision_waits_for_the_lock(jp_fetch: Any, review_db: str) -> None:
    """The decision succeeds once the other process commits (SQLite's busy timeout is 30 s); past
    that timeout it would be a 503 "the review database is busy; try again"."""
    with open_store(review_db) as store:
        draft = review_queue(store)[0]
    # Warm up: the store is opened and the handlers imported before the clock starts.
    await jp_fetch("coassist", "reviews", headers={USER_HEADER: "ana"})

    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_THE_WRITE_LOCK,
        review_db.removeprefix("sqlite:///"),
        str(LOCK_SECONDS),
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
    locked_at = time.perf_counter()
    body = json.dumps(
        {"id": draft.draft_id, "version": draft.version, "action": "approve", "reviewer": "ana"}
    )
    decision = asyncio.ensure_future(
        jp_fetch(
            "coassist", "reviews", method="POST", body=body, headers={USER_HEADER: "ana"}, request_timeout=60
        )
    )
    await asyncio.sleep(0.5)  # the decision is now waiting for the lock

    latencies: list[float] = []
    while not latencies or time.perf_counter() - locked_at < LOCK_SECONDS - 1.5:
        start = time.perf_counter()
        status = await jp_fetch("api", "status")
        latencies.append(time.perf_counter() - start)
        assert status.code == 200
        await asyncio.sleep(0.2)
    assert not decision.done(), "the event loop was blocked until the decision was stored"
    print(f"/api/status during the lock: {len(latencies)} requests, max {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < 1.0

    response = await decision
    assert time.perf_counter() - locked_at >= LOCK_SECONDS - 0.5
    assert response.code == 200 and json.loads(response.body)["status"] == "approved"
    assert await holder.wait() == 0


async def test_a_decision_that_outwaits_the_busy_timeout_is_a_503(
    jp_fetch: Any, review_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SQLite's busy timeout (shortened here from 30 s) the reply is a 503 to retry, and
    nothing was stored."""
    import coassist.review.store

    monkeypatch.setattr(coassist.review.store, "BUSY_TIMEOUT_MS", 300)
    with open_store(review_db) as store:
        draft = review_queue(store)[0]
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_THE_WRITE_LOCK,
        review_db.removeprefix("sqlite:///"),
        "3",
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"locked\n"
    body = json.dumps({"id": draft.draft_id, "version": draft.version, "action": "approve"})
    with pytest.raises(HTTPClientError) as caught:
        await jp_fetch("coassist", "reviews", method="POST", body=body, headers={USER_HEADER: "ana"})
    assert await holder.wait() == 0
    assert caught.value.code == 503
    assert caught.value.response is not None
    assert json.loads(caught.value.response.body) == {"message": "the review database is busy; try again"}
    assert caught.value.response.headers["Retry-After"] == "5"
    with open_store(review_db) as store:
        assert review_queue(store)[0] == draft
