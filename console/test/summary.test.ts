import { describe, expect, it } from "vitest";
import { mean, median, summarize, total } from "../src/data/summary";
import { PIPELINE_ORDER } from "../src/data/stages";
import { capture, GAMESTREAM, NATIVE, sample, series } from "./fixtures";

describe("median / mean", () => {
  it("ignore non-finite values and return null when nothing is left", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
    expect(median([Number.NaN])).toBeNull();
    expect(mean([1, 2, 6])).toBe(3);
    expect(mean([])).toBeNull();
  });
});

describe("total", () => {
  it("is null when never measured and 0 when measured and nothing happened", () => {
    const s = series(3);
    expect(total(s, "packets_dropped")).toBeNull();
    expect(total(s, "send_dropped")).toBe(0);
    expect(total(series(3, (i) => ({ frames_dropped: i })), "frames_dropped")).toBe(3);
  });
});

describe("summarize", () => {
  it("reduces a recording to per-stage medians, means and totals", () => {
    const samples = series(3, (i) => ({ fps: 58 + i, mbps: 9 + i }));
    samples[1].stages[2].p50_us = 9000; // one slow encode window does not move the median
    const s = summarize(capture(samples));
    expect(s.stages.map((st) => st.name)).toEqual([...NATIVE]);
    expect(s.stages[2]).toEqual({ name: NATIVE[2], p50Ms: 3, p99Ms: 6 });
    expect(s.stagesTotalP50Ms).toBe(15);
    expect(s.hostP50Ms).toBe(16);
    expect(s.meanFps).toBe(59);
    expect(s.meanMbps).toBe(10);
    expect(s.framesDropped).toBe(0);
    expect(s.packetsDropped).toBeNull();
    expect(s.fecRecovered).toBeNull();
  });

  it("handles an empty recording", () => {
    const s = summarize(capture([]));
    expect(s.stages).toEqual([]);
    expect(s.meanFps).toBeNull();
    expect(s.stagesTotalP50Ms).toBeNull();
  });

  it("merges the stage sets of mixed paths in pipeline order", () => {
    const s = summarize(capture([sample(1000), sample(2000, { session_id: 2 }, GAMESTREAM)]));
    const both: readonly string[] = [...NATIVE, ...GAMESTREAM];
    expect(s.stages.map((st) => st.name)).toEqual(PIPELINE_ORDER.filter((name) => both.includes(name)));
  });
});
