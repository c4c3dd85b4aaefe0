#!/usr/bin/env python3
"""Benchmark the GameStream Reed-Solomon encoder per frame against zfec in the same run.

Frames are cut as the video packetizer cuts them (1392-byte packets, 20 % FEC, at least
2 parity shards a block) and every FEC block of the frame is encoded:

- p720_us:       720p P-frame, 10 Mb/s at 60 fps (~21 KB, 16 data shards)
- p1080_us:      1080p P-frame, 20 Mb/s at 60 fps (~42 KB, 31 data shards)
- idr1080_us:    1080p IDR frame, 250 KB (182 data shards)
- zfec_p1080_us: the same 1080p P-frame shards through zfec (C, Vandermonde: not what
                 Moonlight decodes, but the fastest Reed-Solomon on PyPI; the baseline)
- ratio:         p1080_us / zfec_p1080_us

Each figure is the median of rounds of repeated encodes, interleaved so drift hits both.
The last line is machine-readable:
    fec: p720_us=<f> p1080_us=<f> idr1080_us=<f> zfec_p1080_us=<f> ratio=<f>
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zfec

from host.gamestream import fec, video

PACKET_SIZE = video.DEFAULT_PACKET_SIZE
FEC_PERCENT = 20
MIN_PARITY = 2

# name -> access-unit bytes
FRAMES = {
    "p720": 10_000_000 // 8 // 60,
    "p1080": 20_000_000 // 8 // 60,
    "idr1080": 250_000,
}


@dataclass(frozen=True)
class Block:
    data: np.ndarray  # (k, datagram size) uint8
    parity: int


def frame_blocks(
    access_unit_bytes: int,
    packet_size: int = PACKET_SIZE,
    fec_percent: int = FEC_PERCENT,
    min_parity: int = MIN_PARITY,
    seed: int = 1,
) -> list[Block]:
    """The FEC blocks (random data shards of full datagram size) of one frame."""
    shards = video.shard_count(access_unit_bytes, packet_size)
    rng = random.Random(seed)
    size = packet_size + video.RTP_HEADER_SIZE
    return [
        Block(
            np.frombuffer(rng.randbytes(block.data_shards * size), dtype=np.uint8).reshape(
                block.data_shards, size
            ),
            block.parity_shards,
        )
        for block in video.plan_blocks(shards, fec_percent, min_parity)
    ]


def ours(blocks: list[Block]) -> Callable[[], object]:
    def encode() -> None:
        for block in blocks:
            fec.encode(block.data, block.parity)

    return encode


def with_zfec(blocks: list[Block]) -> Callable[[], object]:
    rows = [tuple(row.tobytes() for row in block.data) for block in blocks]
    coders = [
        (zfec.Encoder(len(r), len(r) + b.parity), tuple(range(len(r), len(r) + b.parity)))
        for r, b in zip(rows, blocks, strict=True)
    ]

    def encode() -> None:
        for shards, (coder, wanted) in zip(rows, coders, strict=True):
            coder.encode(shards, wanted)

    return encode


def packetize(access_unit_bytes: int) -> Callable[[], object]:
    """The whole packetizer (payload copy, headers, FEC) for one frame."""
    packetizer = video.VideoPacketizer(PACKET_SIZE, FEC_PERCENT, MIN_PARITY)
    unit = random.Random(2).randbytes(access_unit_bytes)

    def run() -> None:
        packetizer.packetize_frame(
            unit, frame_index=1, is_idr=False, host_latency_us=0, timestamp_90khz=0
        )

    return run


def time_us(work: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls, in microseconds (one warm-up call first)."""
    work()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        work()
        samples.append(time.perf_counter_ns() - t0)
    return statistics.median(samples) / 1000


def run(rounds: int = 5, repeats: int = 40) -> dict[str, float]:
    """Every figure of the module docstring, plus packetize_<frame>_us and zfec_<frame>_us."""
    work: dict[str, Callable[[], object]] = {}
    for name, size in FRAMES.items():
        blocks = frame_blocks(size)
        work[f"{name}_us"] = ours(blocks)
        work[f"zfec_{name}_us"] = with_zfec(blocks)
        work[f"packetize_{name}_us"] = packetize(size)
    samples: dict[str, list[float]] = {key: [] for key in work}
    for _ in range(rounds):
        for key, call in work.items():
            samples[key].append(time_us(call, repeats))
    results = {key: statistics.median(values) for key, values in samples.items()}
    results["ratio"] = results["p1080_us"] / results["zfec_p1080_us"]
    return results


def summary_line(results: dict[str, float]) -> str:
    keys = ("p720_us", "p1080_us", "idr1080_us", "zfec_p1080_us")
    return (
        "fec: " + " ".join(f"{k}={results[k]:.1f}" for k in keys) + f" ratio={results['ratio']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    results = run(args.rounds, args.repeats)
    for name, size in FRAMES.items():
        blocks = frame_blocks(size)
        layout = " + ".join(f"{b.data.shape[0]}+{b.parity}" for b in blocks)
        print(
            f"{name:8} {size / 1000:6.1f} KB  blocks {layout:10}  "
            f"fec {results[f'{name}_us']:7.1f} us  zfec {results[f'zfec_{name}_us']:7.1f} us  "
            f"packetize {results[f'packetize_{name}_us']:7.1f} us"
        )
    print("targets: 1080p P-frame <= 1000 us, 1080p IDR <= 5000 us (2-core x86)")
    print(summary_line(results))


if __name__ == "__main__":
    main()
