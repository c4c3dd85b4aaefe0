import { describe, expect, it } from "vitest";
import { alignTracks, formatPValue, overlayColumn, parseMetric, shownUnit } from "../src/data/compare";
import { buildTimeline } from "../src/data/timeline";
import { GAMESTREAM, NATIVE, series } from "./fixtures";

// The fixture gives the i-th stage of a window (i + 1) ms at p50 and 2(i + 1) ms at p99.
const [, , THIRD] = NATIVE;
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

describe("parseMetric", () => {
  it("reads every key the host sends", () => {
    expect(parseMetric("stage:encode:p99")).toEqual({ kind: "stage", stage: "encode", pct: "p99" });
    expect(parseMetric("stage:odd:name:p50")).toEqual({ kind: "stage", stage: "odd:name", pct: "p50" });
    expect(parseMetric("host:p50")).toEqual({ kind: "host", pct: "p50" });
    expect(parseMetric("audio_encode:p99")).toEqual({ kind: "audioEncode", pct: "p99" });
    expect(parseMetric("counter:frames_dropped")).toEqual({ kind: "counter", field: "frames_dropped" });
    expect(parseMetric("fps")).toEqual({ kind: "fps" });
    expect(parseMetric("repeat_fps")).toEqual({ kind: "repeatFps" });
    expect(parseMetric("mbps")).toEqual({ kind: "mbps" });
    expect(parseMetric("client_decode")).toEqual({ kind: "clientDecode" });
    expect(parseMetric("rtt")).toEqual({ kind: "rtt" });
  });

  it("leaves keys it does not know to the host's label", () => {
    for (const key of ["", "stage:encode", "stage:encode:p90", "host", "host:p50:x", "counter:", "fps:p50", "jitter"]) {
      expect(parseMetric(key)).toEqual({ kind: "other" });
    }
  });
});

describe("shownUnit", () => {
  it("shows latencies in ms from the host's µs, rates and counters as they come", () => {
    expect(shownUnit("us")).toEqual({ divisor: 1000, digits: 3, suffix: " ms" });
    expect(shownUnit("fps").suffix).toBe(" fps");
    expect(shownUnit("Mb/s").digits).toBe(2);
    expect(shownUnit("per window")).toEqual({ divisor: 1, digits: 2, suffix: "" });
    expect(shownUnit("dB")).toEqual({ divisor: 1, digits: 3, suffix: " dB" });
  });
});

describe("formatPValue", () => {
  it("gives three significant digits, and < 0.001 below that", () => {
    expect(formatPValue(0.1, "en-GB")).toBe("p = 0.1");
    // cut off, not rounded: just under alpha never reads as alpha
    expect(formatPValue(0.04999, "en-GB")).toBe("p = 0.0499");
    expect(formatPValue(0.05004, "en-GB")).toBe("p = 0.05");
    expect(formatPValue(0.012345, "de-DE")).toBe("p = 0,0123");
    expect(formatPValue(0.0004, "en-GB")).toBe("p < 0.001");
    expect(formatPValue(0, "de-DE")).toBe("p < 0,001");
    expect(formatPValue(1, "en-GB")).toBe("p = 1");
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
