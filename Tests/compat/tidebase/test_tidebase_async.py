"""The asyncio SDK (tidebase.aio.AsyncTidebase) against the same protocol."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from tidebase import TidebaseError
from tidebase.aio import AsyncTidebase

from tbcompat import resolve_when_pending


@pytest.fixture(scope="module")
def atide(server):
    return AsyncTidebase(url=server.url)


def test_async_workflow_crash_and_resume(atide, server):
    calls = Counter()
    crash = {"on": True}
    run_ids: list = []

    async def fetch():
        calls["fetch"] += 1
        await asyncio.sleep(0)
        return {"items": ["a", "b"]}

    async def publish(items):
        calls["publish"] += 1
        await asyncio.sleep(0)
        if crash["on"]:
            raise RuntimeError("async boom")
        return {"published": len(items)}

    async def workflow(run, input):
        run_ids.append(run.run_id)
        data = await run.step("fetch", fetch)
        count = await run.step("count", lambda: calls.update(["count"]) or len(data["items"]))
        await run.state_set({"phase": "fetched", "count": count})
        await run.state_patch({"phase": "publishing"})
        await run.usage_record(kind="llm", input_tokens=10, output_tokens=5)
        out = await run.step("publish", lambda: publish(data["items"]))
        await run.state_save("published")
        return {"count": count, "out": out}

    async def main():
        with pytest.raises(RuntimeError, match="async boom"):
            await atide.run("async-crash", workflow, input={"k": 1})
        crash["on"] = False
        return await atide.run("async-crash", workflow, run_id=run_ids[0])

    result = asyncio.run(main())
    assert result == {"count": 2, "out": {"published": 2}}
    assert calls == Counter(fetch=1, count=1, publish=2)

    detail = server.detail(run_ids[0])
    run = detail["run"]
    assert run["status"] == "completed"
    assert run["result"] == result
    assert run["input"] == {"k": 1}
    steps = {s["name"]: s for s in detail["steps"]}
    assert steps["fetch"]["attempt"] == 1
    assert steps["count"]["attempt"] == 1
    assert steps["publish"]["attempt"] == 2
    assert steps["publish"]["status"] == "completed"
    # The workflow body wrote state on both passes: 2 + 2 writes, then the save.
    assert [v["version"] for v in detail["stateVersions"]] == [1, 2, 3, 4, 5]
    assert detail["stateVersions"][-1]["label"] == "published"
    assert detail["state"]["value"] == {"phase": "publishing", "count": 2}
    assert [u["totalTokens"] for u in detail["usage"]] == [15, 15]
    seqs = [e["seq"] for e in detail["events"]]
    assert seqs == list(range(1, len(seqs) + 1))


def test_async_concurrent_workflows(atide, server):
    async def workflow(run, input):
        a = await run.step("a", lambda: input["n"] * 2)

        async def b_fn():
            await asyncio.sleep(0.01)
            return a + 1

        b = await run.step("b", b_fn)
        await run.state_set({"b": b})
        return b

    async def main():
        return await asyncio.gather(*[
            atide.run("async-many", workflow, input={"n": n}) for n in range(5)
        ])

    assert asyncio.run(main()) == [1, 3, 5, 7, 9]


def test_async_gate_and_session(atide, server):
    pool = ThreadPoolExecutor(max_workers=2)
    run_ids: list = []

    async def workflow(run, input):
        run_ids.append(run.run_id)
        fut = pool.submit(resolve_when_pending, server, run.run_id, "ok?",
                          decision="approved", actor="eve")
        decision = await run.gate("ok?", "Continue?", poll_s=0.05, timeout_s=20)
        assert fut.result(timeout=20).status == 200
        return {"approved": decision.approved, "actor": decision.actor}

    async def session_flow():
        session = await atide.attach("async-session", input={"s": 1}, heartbeat_s=0.2)
        assert session.run["status"] == "running"
        v = await session.step("one", lambda: 1)
        g = await session.gates_begin("check", "Check?")
        assert g["status"] == "pending"
        r = await asyncio.to_thread(resolve_when_pending, server, session.run_id, "check",
                                    decision="approved", actor="frank")
        assert r.status == 200, r
        got = await session.gates_get(g["gateId"])
        hb = await session.heartbeat()
        done = await session.complete({"v": v, "gate": got["decision"]})
        with pytest.raises(TidebaseError) as info:
            await session.heartbeat()
        return done, got, hb, info.value

    try:
        assert asyncio.run(workflow_runner(atide, workflow)) == {"approved": True, "actor": "eve"}
        done, got, hb, err = asyncio.run(session_flow())
    finally:
        pool.shutdown(wait=False)
    assert got["status"] == "approved" and got["actor"] == "frank"
    assert hb["run"]["status"] == "running"
    assert done["run"]["status"] == "completed"
    assert done["run"]["result"] == {"v": 1, "gate": "approved"}
    assert err.status == 409
    assert '"lease_lost"' in err.body


async def workflow_runner(atide, workflow):
    return await atide.run("async-gate", workflow, input={})


def test_async_cancel_propagates(atide, server):
    from tidebase import RunCancelled

    run_ids: list = []

    async def workflow(run, input):
        run_ids.append(run.run_id)
        await run.step("first", lambda: 1)
        await atide.cancel(run.run_id, reason="async stop", actor="tester")
        await run.step("second", lambda: 2)
        return "unreachable"

    async def main():
        with pytest.raises(RunCancelled):
            await atide.run("async-cancel", workflow, input={})

    asyncio.run(main())
    detail = server.detail(run_ids[0])
    assert detail["run"]["status"] == "cancelled"
    assert [s["name"] for s in detail["steps"]] == ["first"]
    assert detail["events"][-1]["type"] == "run.cancelled"
