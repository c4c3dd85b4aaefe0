import { describe, expect, it } from "vitest";
import { buildTimeline, FIRST_WINDOW_S, frameBudgetMs, TimelineBuilder, type Timeline } from "../src/data/timeline";
import { PIPELINE_ORDER } from "../src/data/stages";
import { GAMESTREAM, gamestreamSample, NATIVE, sample, series } from "./fixtures";

/** Every column of every lane has one cell per x. */
function expectAligned(tl: Timeline): void {
  for (const lane of tl.lanes) {
    for (const col of [...lane.p50, ...lane.p99, ...lane.stack50, ...lane.stack99, ...Object.values(lane.cols)]) {
      expect(col.length).toBe(tl.x.length);
    }
  }
  if (tl.budgetMs !== null) expect(tl.budget.length).toBe(tl.x.length);
}

describe("buildTimeline", () => {
  it("turns one session into seconds, milliseconds and stacked stage edges", () => {
    const tl = buildTimeline(series(3), 1000 / 60);
    expect(tl.x).toEqual([2, 4, 6]);
    expect(tl.lanes).toHaveLength(1);
    const lane = tl.lanes[0];
    expect(lane.stages).toEqual([...NATIVE]);
    expect(lane.p50[2]).toEqual([3, 3, 3]); // the third stage: 3000 µs
    expect(lane.stack50.map((c) => c[0])).toEqual([1, 3, 6, 10, 15]);
    expect(lane.stack99[4][0]).toBe(30);
    expect(lane.cols.host_p50_ms[0]).toBe(16);
    expect(lane.cols.target_mbps[0]).toBe(10);
    expect(tl.budget[0]).toBeCloseTo(16.667, 3);
    expectAligned(tl);
  });

  it("has the stages of the samples' path", () => {
    expect(buildTimeline([sample(1000, {}, GAMESTREAM)]).lanes[0].stages).toEqual([...GAMESTREAM]);
    expect(buildTimeline([sample(1000, {}, NATIVE)]).lanes[0].stages).toEqual([...NATIVE]);
  });

  it("orders a lane's stages as the host declares them, whatever order the windows list them in", () => {
    const tl = buildTimeline([sample(1000, {}, [...NATIVE].reverse()), sample(2000, {}, GAMESTREAM)]);
    expect(tl.lanes[0].stages).toEqual(PIPELINE_ORDER.filter((name) => [...NATIVE, ...GAMESTREAM].includes(name)));
  });

  it("leaves unmeasured series out of `present` and keeps nulls as gaps", () => {
    const tl = buildTimeline(series(2, (i) => ({ fec_recovered: i === 1 ? 3 : null })));
    const lane = tl.lanes[0];
    expect(lane.present.has("packets_dropped")).toBe(false);
    expect(lane.present.has("gpu_util_pct")).toBe(false);
    expect(lane.present.has("fec_recovered")).toBe(true);
    expect(lane.cols.fec_recovered).toEqual([null, 3]);
    expect(lane.present.has("frames_dropped")).toBe(true); // 0 is measured
  });

  it("separates sessions that follow each other with a gap row (null) in one lane", () => {
    const tl = buildTimeline([
      sample(2000, { session_id: 1 }),
      sample(4000, { session_id: 1 }),
      sample(9000, { session_id: 2 }),
      sample(11000, { session_id: 2 }),
    ]);
    expect(tl.lanes).toHaveLength(1);
    expect(tl.lanes[0].sessions).toEqual([1, 2]);
    expect(tl.x).toEqual([2, 4, 8.9995, 9, 11]);
    expect(tl.lanes[0].cols.fps).toEqual([60, 60, null, 60, 60]);
    expect(tl.lanes[0].stack50[0]).toEqual([1, 1, null, 1, 1]);
    expect(tl.sampleCount).toBe(4);
    expect(tl.sessionCount).toBe(2);
    expectAligned(tl);
  });

  it("gives concurrent sessions separate lanes; absent rows are undefined, not gaps", () => {
    const tl = buildTimeline([
      sample(1000, { session_id: 1 }),
      sample(1500, { session_id: 2 }, GAMESTREAM),
      sample(3000, { session_id: 1 }),
      sample(3500, { session_id: 2 }, GAMESTREAM),
    ]);
    expect(tl.lanes).toHaveLength(2);
    expect(tl.lanes[0].cols.fps).toEqual([60, undefined, 60, undefined]);
    expect(tl.lanes[1].cols.fps).toEqual([undefined, 60, undefined, 60]);
    expect(tl.lanes[1].stages).toEqual([...GAMESTREAM]);
    expectAligned(tl);
  });

  it("adds nothing to the stack for a stage missing from a window, and gaps a window without stages", () => {
    const tl = buildTimeline([
      sample(1000),
      sample(2000, {}, [NATIVE[0], NATIVE[2]]),
      sample(3000, {}, []),
    ]);
    const lane = tl.lanes[0];
    expect(lane.p50[1]).toEqual([2, null, null]); // the second stage
    expect(lane.stack50.map((c) => c[1])).toEqual([1, 1, 3, 3, 3]);
    expect(lane.stack50.map((c) => c[2])).toEqual([null, null, null, null, null]);
  });

  it("sorts samples by time", () => {
    expect(buildTimeline([sample(4000), sample(2000)]).x).toEqual([2, 4]);
  });

  it("handles an empty recording", () => {
    const tl = buildTimeline([], 16);
    expect(tl.x).toEqual([]);
    expect(tl.lanes).toEqual([]);
    expect(tl.sampleCount).toBe(0);
  });
});

describe("frameBudgetMs", () => {
  it("is 1000/fps, or null without a frame rate", () => {
    expect(frameBudgetMs(50)).toBe(20);
    expect(frameBudgetMs(0)).toBeNull();
  });
});

describe("TimelineBuilder", () => {
  it("appends in place: the same arrays grow, and match a timeline built from scratch", () => {
    const b = new TimelineBuilder(20);
    expect(b.append(series(2))).toBe("rebuilt"); // the first samples create the series
    const x = b.timeline.x;
    const encode = b.timeline.lanes[0].stack50[2];
    const more = series(5).slice(2);
    expect(b.append(more)).toBe("appended");
    expect(b.timeline.x).toBe(x);
    expect(b.timeline.lanes[0].stack50[2]).toBe(encode);
    expect(x).toEqual([2, 4, 6, 8, 10]);
    const fresh = buildTimeline(series(5), 20);
    expect(b.timeline.x).toEqual(fresh.x);
    expect(b.timeline.lanes[0].stack50).toEqual(fresh.lanes[0].stack50);
    expect(b.timeline.lanes[0].cols).toEqual(fresh.lanes[0].cols);
    expect(b.timeline.budget).toEqual(fresh.budget);
  });

  it("says unchanged for an empty batch", () => {
    const b = new TimelineBuilder();
    b.append(series(1));
    expect(b.append([])).toBe("unchanged");
  });

  it("appends a following session with its gap row", () => {
    const b = new TimelineBuilder();
    b.append([sample(2000, { session_id: 1 })]);
    expect(b.append([sample(6000, { session_id: 2 })])).toBe("appended");
    expect(b.timeline.lanes[0].cols.fps).toEqual([60, null, 60]);
  });

  it("appends only after the latest sample so far, not after the last one to arrive", () => {
    const b = new TimelineBuilder();
    b.append([sample(2000)]);
    expect(b.append([sample(10000), sample(7000)])).toBe("rebuilt"); // out of order
    expect(b.append([sample(8000)])).toBe("rebuilt"); // before 10 s
    expect(b.timeline.x).toEqual([2, 7, 8, 10]);
    expect(b.timeline).toStrictEqual(buildTimeline(b.samplesSoFar()));
  });

  it("rebuilds when a session moves to another lane because an earlier one outlasts it", () => {
    const b = new TimelineBuilder();
    b.append([
      sample(0, { session_id: 1 }),
      sample(0, { session_id: 2 }),
      sample(3000, { session_id: 2 }),
      sample(10000, { session_id: 1 }),
      sample(11000, { session_id: 3 }),
    ]);
    expect(b.timeline.lanes.map((lane) => lane.sessions)).toEqual([[1, 3], [2]]);
    expect(b.append([sample(15000, { session_id: 1 })])).toBe("rebuilt");
    expect(b.timeline.lanes.map((lane) => lane.sessions)).toEqual([[1], [2, 3]]);
    expect(b.timeline).toStrictEqual(buildTimeline(b.samplesSoFar()));
  });

  it("rebuilds when a new stage, a newly measured series or a concurrent session appears", () => {
    const b = new TimelineBuilder();
    b.append(series(2));
    expect(b.append([sample(6000, {}, [NATIVE[0], "colorconvert", NATIVE[1]])])).toBe("rebuilt");
    expect(b.timeline.lanes[0].stages).toContain("colorconvert");
    expect(b.append([sample(8000, { gpu_util_pct: 40 })])).toBe("rebuilt");
    expect(b.timeline.lanes[0].present.has("gpu_util_pct")).toBe(true);
    expect(b.append([sample(8500, { session_id: 7 }), sample(10000, { session_id: 1 })])).toBe("rebuilt");
    expect(b.timeline.lanes).toHaveLength(2);
    expect(b.count).toBe(6);
  });
});

describe("per-second series", () => {
  it("divides a window's audio packets and input events by the time since the session's previous window", () => {
    const tl = buildTimeline([
      gamestreamSample(1000, { audio_packets: 100, input_events: 30 }),
      gamestreamSample(2000, { audio_packets: 200, input_events: 60 }),
      // A short last window (stopped mid-window): 50 packets in 0.5 s.
      gamestreamSample(2500, { audio_packets: 50, input_events: 0 }),
    ]);
    const lane = tl.lanes[0];
    // The first window has no previous sample: the nominal window length (1 s).
    expect(FIRST_WINDOW_S).toBe(1);
    expect(lane.cols.audio_packets_ps).toEqual([100, 200, 100]);
    expect(lane.cols.input_events_ps).toEqual([30, 60, 0]);
    expect(lane.cols.audio_encode_p50_ms).toEqual([0.15, 0.15, 0.15]);
    expect(lane.cols.audio_encode_p99_ms).toEqual([0.42, 0.42, 0.42]);
  });

  it("starts each session's windows afresh and keeps native (unmeasured) windows as gaps", () => {
    const tl = buildTimeline([
      gamestreamSample(1000, { session_id: 1, audio_packets: 200 }),
      gamestreamSample(3000, { session_id: 1, audio_packets: 200 }),
      // Session 2 follows in the same lane, 5 s later: its first window is not 5 s long.
      sample(8000, { session_id: 2 }),
      gamestreamSample(9000, { session_id: 3, audio_packets: 300 }),
    ]);
    expect(tl.lanes).toHaveLength(1);
    // Rows: s1, s1, gap, s2 (native: null), gap, s3.
    expect(tl.lanes[0].cols.audio_packets_ps).toEqual([200, 100, null, null, null, 300]);
    expect(tl.lanes[0].present.has("audio_packets_ps")).toBe(true);
    expect(buildTimeline(series(3)).lanes[0].present.has("audio_packets_ps")).toBe(false);
  });

  it("gives live appends the same per-second values as a build from scratch", () => {
    const samples = [gamestreamSample(1000), gamestreamSample(2000, { audio_packets: 100 }), gamestreamSample(4000, { input_events: 10 })];
    const b = new TimelineBuilder();
    b.append(samples.slice(0, 1));
    expect(b.append(samples.slice(1, 2))).toBe("appended");
    expect(b.append(samples.slice(2))).toBe("appended");
    expect(b.timeline.lanes[0].cols.audio_packets_ps).toEqual([200, 100, 100]);
    expect(b.timeline.lanes[0].cols.input_events_ps).toEqual([60, 60, 5]);
    expect(b.timeline.lanes[0].cols).toEqual(buildTimeline(samples).lanes[0].cols);
  });
});
