#!/usr/bin/env python3
"""Benchmark the metrics ring against a bare `struct.pack_into` loop measured in the same run.

- write_ns:    producer cost per record: timestamp + record write + head publish
- baseline_ns: the same record packed with a bare `struct.pack_into` into shared memory,
               no timestamp, no publish (the floor any Python producer pays)
- read_us:     reader cost per 120-record window (2 s at 60 fps): read + validate +
               p50/p99 of the three capture-process stages

Each figure is the median of several rounds, so one noisy round does not decide it.
The last line is machine-readable:
    ring: write_ns=<int> baseline_ns=<int> read_us=<float>
"""

from __future__ import annotations

import argparse
import statistics
import time
from multiprocessing import shared_memory

import numpy as np

from ipc import FRAME_RECORD, Ring
from ipc.records import RECORD_SIZE
from ipc.window import percentiles


def bench_baseline(n: int) -> float:
    shm = shared_memory.SharedMemory(create=True, size=64 * RECORD_SIZE)
    try:
        buf = shm.buf
        pack_into = FRAME_RECORD.struct.pack_into
        t0 = time.perf_counter_ns()
        for i in range(n):
            pack_into(buf, (i & 63) * RECORD_SIZE, i, 1, 0, i, 123_456_789, 800, 20, 1900, 21000)
        elapsed = time.perf_counter_ns() - t0
        del buf
        return elapsed / n
    finally:
        shm.close()
        shm.unlink()


def bench_write(n: int) -> float:
    with Ring.create(FRAME_RECORD, capacity=1024) as ring:
        write = ring.writer().write
        now = time.monotonic_ns
        t0 = time.perf_counter_ns()
        for i in range(n):
            write(1, 0, i, now(), 800, 20, 1900, 21000)
        return (time.perf_counter_ns() - t0) / n


def bench_read(windows: int, per_window: int = 120) -> float:
    with Ring.create(FRAME_RECORD, capacity=1024) as ring:
        write, reader = ring.writer().write, ring.reader()
        rng = np.random.default_rng(1)
        durations = rng.integers(50, 5000, size=(per_window, 3)).tolist()
        costs = []
        for w in range(windows):
            for i, (cap, sub, enc) in enumerate(durations):
                write(1, 0, w * per_window + i, time.monotonic_ns(), cap, sub, enc, 20000)
            t0 = time.perf_counter_ns()
            batch = reader.read()
            percentiles(batch, ("capture_us", "submit_us", "encode_us"))
            costs.append(time.perf_counter_ns() - t0)
            assert len(batch) == per_window
        return statistics.median(costs) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    baseline, write = [], []
    for _ in range(args.rounds):  # interleaved, so drift hits both alike
        baseline.append(bench_baseline(args.records))
        write.append(bench_write(args.records))
    read_us = bench_read(windows=400)
    baseline_ns, write_ns = statistics.median(baseline), statistics.median(write)
    print(f"baseline  bare pack_into          {baseline_ns:7.1f} ns/record")
    print(f"write     timestamp+write+publish {write_ns:7.1f} ns/record")
    print(f"ratio     write/baseline          {write_ns / baseline_ns:7.2f}x   (target <= 3x)")
    print(f"read      120-record window       {read_us:7.1f} us        (target <= 100 us)")
    print(
        f"ring: write_ns={round(write_ns)} baseline_ns={round(baseline_ns)} read_us={read_us:.1f}"
    )


if __name__ == "__main__":
    main()
