"""The session registry: ids unique across every listener, one limit for all paths."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from host.native.server import NativeHost
from host.native.tls import load_or_create_identity
from host.pipeline.session import HostBusyError, StreamSession
from ipc import ControlBlock
from mgmt.aggregator import Aggregator
from mgmt.sessions import Sessions
from mgmt.settings import Settings, native_settings


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def session_started(self, session: StreamSession) -> None:
        self.events.append(("started", session.session_id))

    def session_ending(self, session: StreamSession) -> None:
        self.events.append(("ending", session.session_id))


def test_ids_are_unique_across_paths_and_the_limit_counts_every_path() -> None:
    sessions = Sessions(3)
    ids = [sessions.reserve("native"), sessions.reserve("gamestream"), sessions.reserve("native")]
    assert len(set(ids)) == 3
    with pytest.raises(HostBusyError, match="3 sessions"):
        sessions.reserve("gamestream")
    sessions.abandon(ids[1])
    fourth = sessions.reserve("gamestream")
    assert fourth not in ids  # a freed slot does not recycle its id


def test_a_failing_observer_does_not_keep_others_from_hearing_or_the_slot_from_freeing() -> None:
    class Broken:
        def session_started(self, session: StreamSession) -> None:
            raise RuntimeError("observer bug")

        def session_ending(self, session: StreamSession) -> None:
            raise RuntimeError("observer bug")

    seen = Seen()
    sessions = Sessions(1, [Broken(), seen])

    class Fake:
        session_id = sessions.reserve("native")

    fake: StreamSession = Fake()  # type: ignore[assignment]
    sessions.started(fake)
    assert sessions.live() == [fake]
    sessions.ending(fake)
    assert seen.events == [("started", fake.session_id), ("ending", fake.session_id)]
    assert sessions.live() == []
    sessions.reserve("native")  # the only slot is free again


def test_two_listeners_sessions_at_once_get_distinct_ids_and_separate_samples(
    isolated_config: Path,
) -> None:
    async def scenario() -> None:
        control = ControlBlock.create(perf=True)
        aggregator = Aggregator()
        sessions = Sessions(4, [aggregator])
        identity = load_or_create_identity(isolated_config)
        hosts = [
            NativeHost(
                native_settings(Settings(native="127.0.0.1:0", encoder="cpu")),
                control,
                identity,
                sessions,
            )
            for _ in range(2)
        ]
        clients: list[asyncio.subprocess.Process] = []
        ticking = asyncio.ensure_future(aggregator.run())
        try:
            for host, mode in zip(hosts, ("640x360@30", "320x240@30"), strict=True):
                address = await host.start()
                clients.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "mgmt",
                        "client",
                        f"{address[0]}:{address[1]}",
                        "--mode",
                        mode,
                        "--seconds",
                        "30",
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                latest = aggregator.latest()
                if len(latest) == 2 and all(sample.stages for _, sample in latest):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail(f"no sample of both sessions within 60 s: {aggregator.latest()}")
            by_id = {session.session_id: (session, sample) for session, sample in latest}
            assert len(by_id) == 2
            assert {s.session_id for s in sessions.live()} == set(by_id)
            modes = {session.params.mode for session, _ in by_id.values()}
            assert modes == {"640x360@30", "320x240@30"}
            for session_id, (session, sample) in by_id.items():
                assert sample.session_id == session_id
                assert session in hosts[0].sessions.values() or session in (
                    hosts[1].sessions.values()
                )
                assert sample.fps > 0
        finally:
            for client in clients:
                if client.returncode is None:
                    client.terminate()
                await client.wait()
            for host in hosts:
                await host.close()
            ticking.cancel()
            await asyncio.gather(ticking, return_exceptions=True)
            control.close()
        assert sessions.live() == []

    asyncio.run(scenario())
