"""A streaming process ends when its owner dies, even while its forkserver lives on."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
from multiprocessing.connection import Connection

import psutil
import pytest

from host.pipeline.process import owner_gone


def _watch_owner() -> None:
    gone = owner_gone()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not gone():
        time.sleep(0.02)
    os._exit(0 if gone() else 3)


def _owner(conn: Connection) -> None:
    child = mp.get_context("forkserver").Process(target=_watch_owner, daemon=False)
    child.start()
    holder = os.fork()
    if holder == 0:  # inherits the forkserver's liveness pipe: the forkserver outlives us
        time.sleep(60)
        os._exit(0)
    conn.send((child.pid, holder))
    conn.recv()
    os._exit(0)  # dies without stopping its child, as a killed mgmt process would


def test_a_child_of_the_forkserver_notices_its_owner_die_although_the_forkserver_lives() -> None:
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    owner = ctx.Process(target=_owner, args=(theirs,))
    owner.start()
    theirs.close()
    holder = None
    try:
        assert ours.poll(60)
        child_pid, holder = ours.recv()
        child = psutil.Process(child_pid)
        forkserver = child.parent()
        assert forkserver is not None
        assert forkserver.pid != owner.pid  # the OS parent is not the owner
        ours.send("die")
        owner.join(30)
        assert owner.exitcode == 0
        assert forkserver.is_running()  # kept alive by the holder: getppid() stays the same
        try:
            code = child.wait(15)
        except psutil.TimeoutExpired:
            child.kill()
            pytest.fail("the child went on after its owner died")
        # psutil reports None for a process that is not our child; it must be gone, though.
        assert code in (0, None)
        assert not child.is_running()
    finally:
        if holder is not None:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(holder).kill()
        if owner.is_alive():
            owner.kill()
        owner.join(5)
        owner.close()
        ours.close()
