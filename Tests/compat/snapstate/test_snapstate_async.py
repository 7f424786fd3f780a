"""Every async SDK method against the server (async_save, async_get, async_resume, async_replay,
async_register_agent, async_list_agents, async_close, `async with`), sync lifecycle (close,
`with`), the deprecated CheckpointClient alias end to end, and concurrent saves."""

from __future__ import annotations

import asyncio

from snapstate_sdk import (
    Agent,
    Checkpoint,
    CheckpointClient,
    ConflictError,
    SaveResult,
    SnapStateClient,
    WorkflowReplay,
    WorkflowResume,
)

from sscompat import cp_id, diff, etag_of, new_wf, size_of, wait_deliveries


def test_async_round_trip(server):
    key = server.tenant("async")

    async def main():
        wf = new_wf("async")
        async with server.client(key) as c:
            s1 = await c.async_save(wf, 1, {"a": 1}, label="one")
            assert isinstance(s1, SaveResult)
            assert (s1.checkpoint_id, s1.workflow_id, s1.step) == (cp_id(wf, 1), wf, 1)
            assert s1.etag == etag_of({"a": 1}) and s1.size_bytes == size_of({"a": 1})
            assert s1.diff_from_previous == diff(added=["a"])
            s2 = await c.async_save(wf, 2, {"a": 2, "b": "x"}, metadata={"m": 1},
                                    agent_id="async-bot", ttl_seconds=3600)
            assert s2.diff_from_previous == diff(added=["b"], changed=["a"])
            # If-Match replay
            again = await c.async_save(wf, 2, {"ignored": True}, if_match=s2.etag)
            assert (again.checkpoint_id, again.etag, again.created_at) == (
                s2.checkpoint_id, s2.etag, s2.created_at)

            cp = await c.async_get(s2.checkpoint_id)
            assert isinstance(cp, Checkpoint)
            assert cp.state == {"a": 2, "b": "x"}
            assert cp.metadata == {"m": 1, "agent_id": "async-bot"} and cp.agent_id == "async-bot"
            assert cp.etag == s2.etag and cp.size_bytes == s2.size_bytes

            res = await c.async_resume(wf)
            assert isinstance(res, WorkflowResume)
            assert res.workflow_id == wf and res.total_checkpoints == 2
            assert res.latest_checkpoint.step == 2 and res.latest_checkpoint.agent_id == "async-bot"
            assert res.workflow_started_at == s1.created_at
            assert res.last_activity_at == s2.created_at

            rp = await c.async_replay(wf)
            assert isinstance(rp, WorkflowReplay)
            assert [x.step for x in rp.checkpoints] == [1, 2] and rp.total == 2
            assert rp.has_more is False
            rp = await c.async_replay(wf, from_step=1, to_step=2, limit=1)
            assert [x.step for x in rp.checkpoints] == [1] and rp.has_more is True
            rp = await c.async_replay(wf, from_step=2)
            assert [x.label for x in rp.checkpoints] == [None]

            agent = await c.async_register_agent("async-bot", "Async Bot", description="d",
                                                 capabilities=["x"], metadata={"v": 1})
            assert isinstance(agent, Agent)
            assert (agent.agent_id, agent.name, agent.description, agent.capabilities,
                    agent.metadata) == ("async-bot", "Async Bot", "d", ["x"], {"v": 1})
            agents = await c.async_list_agents()
            assert [a.agent_id for a in agents] == ["async-bot"]
            assert agents[0].name == "Async Bot"

    asyncio.run(main())


def test_async_close_is_idempotent_and_the_client_reopens(server):
    async def main():
        c = server.client()
        await c.async_close()  # before any use
        wf = new_wf()
        await c.async_save(wf, 1, {})
        await c.async_close()
        await c.async_close()
        # a closed async client is re-created lazily on the next call
        assert (await c.async_resume(wf)).total_checkpoints == 1
        await c.async_close()
        c.close()

    asyncio.run(main())


def test_sync_context_manager_and_close(server):
    wf = new_wf()
    with server.client() as c:
        assert isinstance(c, SnapStateClient)
        c.save(wf, 1, {"a": 1})
    c.close()  # closing twice is fine
    c2 = server.client()
    assert c2.resume(wf).total_checkpoints == 1
    c2.close()
    c2.close()


def test_base_url_trailing_slash_is_stripped(server):
    with SnapStateClient(api_key=server.api_key, base_url=server.url + "/") as c:
        wf = new_wf()
        assert c.save(wf, 1, {}).checkpoint_id == cp_id(wf, 1)


def test_deprecated_checkpoint_client_sync_and_async(server, receiver):
    key = server.tenant("alias")
    wf = new_wf("alias")
    with CheckpointClient(api_key=key, base_url=server.url) as c:
        assert type(c) is SnapStateClient
        hook = c.register_webhook(receiver.url, ["checkpoint.saved"])
        assert hook["webhook_id"].startswith("wh_")
        saved = c.save(wf, 1, {"x": 1}, agent_id="legacy")
        assert c.get(saved.checkpoint_id).agent_id == "legacy"
        assert c.resume(wf).latest_checkpoint.checkpoint_id == saved.checkpoint_id
        assert c.replay(wf).total == 1
        assert c.register_agent("legacy", "Legacy").agent_id == "legacy"
        assert [a.agent_id for a in c.list_agents()] == ["legacy"]

    async def main():
        async with CheckpointClient(api_key=key, base_url=server.url) as c:
            s2 = await c.async_save(wf, 2, {"x": 2})
            assert (await c.async_get(s2.checkpoint_id)).state == {"x": 2}
            assert (await c.async_resume(wf)).total_checkpoints == 2
            assert (await c.async_replay(wf)).total == 2
            assert (await c.async_register_agent("legacy2", "L2")).name == "L2"
            assert sorted(a.agent_id for a in await c.async_list_agents()) == ["legacy", "legacy2"]

    asyncio.run(main())
    calls = wait_deliveries(receiver, 2)
    assert sorted(c["json"]["data"]["step"] for c in calls) == [1, 2]


def test_concurrent_saves_of_different_steps(server):
    wf = new_wf("conc")

    async def main():
        async with server.client() as c:
            results = await asyncio.gather(*(c.async_save(wf, s, {"s": s}) for s in range(20)))
            assert sorted(r.step for r in results) == list(range(20))
            res = await c.async_resume(wf)
            assert res.total_checkpoints == 20
            rp = await c.async_replay(wf)
            assert sorted(x.step for x in rp.checkpoints) == list(range(20))
            assert rp.total == 20

    asyncio.run(main())


def test_concurrent_saves_of_the_same_step_have_one_winner(server):
    wf = new_wf("race")

    async def main():
        async with server.client() as c:
            outcomes = await asyncio.gather(
                *(c.async_save(wf, 1, {"writer": i}) for i in range(8)), return_exceptions=True)
            wins = [o for o in outcomes if isinstance(o, SaveResult)]
            conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
            assert len(wins) == 1 and len(conflicts) == 7, outcomes
            stored = await c.async_get(cp_id(wf, 1))
            assert stored.etag == wins[0].etag
            assert (await c.async_resume(wf)).total_checkpoints == 1

    asyncio.run(main())
