import { describe, expect, it } from "vitest";
import { alignTracks, compareRows, judge, overlayColumn } from "../src/data/compare";
import { summarize } from "../src/data/summary";
import { buildTimeline } from "../src/data/timeline";
import { PIPELINE_ORDER } from "../src/data/stages";
import { capture, GAMESTREAM, NATIVE, sample, series } from "./fixtures";

// The fixture gives the i-th stage of a window (i + 1) ms at p50 and 2(i + 1) ms at p99.
const [FIRST, , THIRD] = NATIVE;
const GAMESTREAM_ONLY = GAMESTREAM.filter((name) => !(NATIVE as readonly string[]).includes(name));

describe("alignTracks", () => {
  it("puts tracks on the union of their x values with undefined where a track has no point", () => {
    const a = alignTracks([
      { x: [0, 2, 4], ys: [[1, 2, 3]] },
      { x: [1, 2, 5], ys: [[10, 20, 30]] },
    ]);
    expect(a.x).toEqual([0, 1, 2, 4, 5]);
    expect(a.ys[0]).toEqual([1, undefined, 2, 3, undefined]);
    expect(a.ys[1]).toEqual([undefined, 10, 20, undefined, 30]);
  });

  it("keeps a track's own gaps (null) and repeated x values", () => {
    const a = alignTracks([
      { x: [0, 1, 1, 2], ys: [[1, null, 2, 3]] },
      { x: [1], ys: [[9]] },
    ]);
    expect(a.x).toEqual([0, 1, 1, 2]);
    expect(a.ys[0]).toEqual([1, null, 2, 3]);
    expect(a.ys[1]).toEqual([undefined, 9, undefined, undefined]);
  });

  it("carries several columns per track", () => {
    const a = alignTracks([{ x: [0], ys: [[1], [2]] }, { x: [0], ys: [[3], [4]] }]);
    expect(a.ys).toEqual([[1], [2], [3], [4]]);
  });

  it("handles no tracks and empty tracks", () => {
    expect(alignTracks([])).toEqual({ x: [], ys: [] });
    expect(alignTracks([{ x: [], ys: [[]] }])).toEqual({ x: [], ys: [[]] });
  });
});

describe("judge", () => {
  it("counts a lower latency beyond 5 % as better and within 5 % as the same", () => {
    expect(judge(10, 8, "lower", "continuous")?.verdict).toBe("better");
    expect(judge(10, 10.4, "lower", "continuous")?.verdict).toBe("same");
    expect(judge(10, 12, "lower", "continuous")).toEqual({ abs: 2, rel: 0.2, verdict: "worse" });
  });

  it("counts any change of a count, even from zero", () => {
    expect(judge(0, 1, "lower", "count")).toEqual({ abs: 1, rel: null, verdict: "worse" });
    expect(judge(0, 0, "lower", "count")?.verdict).toBe("same");
  });

  it("ignores latency changes within the absolute noise floor", () => {
    expect(judge(0.01, 0.012, "lower", "continuous", 0.05)?.verdict).toBe("same");
    expect(judge(1, 1.2, "lower", "continuous", 0.05)?.verdict).toBe("worse");
  });

  it("treats higher fps as better, neutral metrics as just changed, unmeasured as no verdict", () => {
    expect(judge(50, 60, "higher", "continuous")?.verdict).toBe("better");
    expect(judge(5, 9, "neutral", "continuous")?.verdict).toBe("neutral");
    expect(judge(3, 3, "neutral", "count")?.verdict).toBe("same");
    expect(judge(null, 1, "lower", "count")).toBeNull();
    expect(judge(1, null, "lower", "count")).toBeNull();
  });
});

describe("compareRows", () => {
  const base = summarize(capture(series(3)));
  const slower = summarize(
    capture(
      series(3, () => ({ frames_dropped: 2 })).map((s) => ({
        ...s,
        stages: s.stages.map((st) => (st.name === THIRD ? { ...st, p50_us: 4500 } : st)),
      })),
      { id: "b" },
    ),
  );

  it("lists every stage's p50 and p99, then the measured metrics, judged against the first", () => {
    const rows = compareRows([base, slower]);
    const third = rows.find((r) => r.metric === "stage_p50" && r.stage === THIRD);
    expect(third?.values).toEqual([3, 4.5]);
    expect(third?.deltas[0]).toBeNull();
    expect(third?.deltas[1]?.verdict).toBe("worse");
    const dropped = rows.find((r) => r.metric === "frames_dropped");
    expect(dropped?.values).toEqual([0, 6]);
    expect(dropped?.deltas[1]?.verdict).toBe("worse");
    expect(rows.find((r) => r.metric === "stage_p50" && r.stage === FIRST)?.deltas[1]?.verdict).toBe("same");
  });

  it("lists the stages of recordings of different paths in pipeline order", () => {
    const gamestream = summarize(capture([sample(1000, {}, GAMESTREAM)], { id: "g", kind: "gamestream" }));
    const stages = compareRows([base, gamestream])
      .filter((r) => r.metric === "stage_p50")
      .map((r) => r.stage);
    const both: readonly string[] = [...NATIVE, ...GAMESTREAM];
    expect(stages).toEqual(PIPELINE_ORDER.filter((name) => both.includes(name)));
  });

  it("leaves out metrics no recording measured", () => {
    const rows = compareRows([base, slower]);
    expect(rows.some((r) => r.metric === "packets_dropped")).toBe(false);
    expect(rows.some((r) => r.metric === "fec_recovered")).toBe(false);
  });
});

describe("overlayColumn", () => {
  const lane = buildTimeline(series(2)).lanes[0];
  it("picks the stacked total, a stage, or a scalar", () => {
    expect(overlayColumn(lane, { kind: "stagesTotal" }, "p50")).toEqual([15, 15]);
    expect(overlayColumn(lane, { kind: "stage", name: THIRD }, "p99")).toEqual([6, 6]);
    for (const name of GAMESTREAM_ONLY) expect(overlayColumn(lane, { kind: "stage", name }, "p50")).toBeNull();
    expect(GAMESTREAM_ONLY.length).toBeGreaterThan(0);
    expect(overlayColumn(lane, { kind: "fps" }, "p50")).toEqual([60, 60]);
  });
});
