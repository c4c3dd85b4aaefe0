"""What every streaming process does the same way: start, know when to quit, fail.

A streaming process (capture/encode, a path's sender, a path's audio) ignores SIGINT
(its owner decides when it stops), logs like the host, attaches its segments by name
and releases them on the way out, ends when its owner is gone, and reports a failure
it cannot recover from to the owner in one line before exiting with status 2.

The owner is the process that asked for it, not its OS parent: with the forkserver
start method the parent is the forkserver, which can outlive a killed owner. The
owner's liveness comes from the sentinel multiprocessing hands every child.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import NoReturn

from host import logs
from ipc import ControlBlock, CountersBlock, RecordLayout, Ring

log = logging.getLogger(__name__)


def owner_gone() -> Callable[[], bool]:
    """A cheap check (one poll of a pipe) for whether the owner of this process died."""
    owner = multiprocessing.parent_process()
    sentinel = getattr(owner, "sentinel", None)
    if sentinel is None:  # not started by multiprocessing: fall back on the OS parent
        parent = os.getppid()
        return lambda: os.getppid() != parent
    return lambda: bool(wait([sentinel], timeout=0))


@contextlib.contextmanager
def streaming_process(
    control_name: str, counters_name: str, ring_name: str, layout: RecordLayout
) -> Iterator[tuple[ControlBlock, CountersBlock, Ring]]:
    """The start of every streaming process's entry point: signals, logging, and its
    control block, counters block and ring, released when the block ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner decides when we stop
    logs.configure()
    control = ControlBlock.attach(control_name)
    counters = CountersBlock.attach(counters_name)
    ring = Ring.attach(ring_name, layout)
    try:
        yield control, counters, ring
    finally:
        ring.close()
        counters.close()
        control.close()


def give_up(errors: Connection, session_id: int, reason: str) -> NoReturn:
    """Tell the owner why this process cannot go on (it shows the client), then exit 2."""
    log.error("session %d: %s", session_id, reason)
    errors.send(reason)
    raise SystemExit(2)
