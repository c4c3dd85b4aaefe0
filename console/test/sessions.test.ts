import { describe, expect, it } from "vitest";
import { assignLanes, describeSessions, pathOfStages, sessionSpans } from "../src/data/sessions";
import { GAMESTREAM, NATIVE, sample } from "./fixtures";

describe("sessionSpans", () => {
  it("records first and last sample time per session in first-seen order", () => {
    const spans = sessionSpans([
      { session_id: 2, t_ms: 10 },
      { session_id: 1, t_ms: 12 },
      { session_id: 2, t_ms: 30 },
    ]);
    expect(spans).toEqual([
      { id: 2, firstMs: 10, lastMs: 30 },
      { id: 1, firstMs: 12, lastMs: 12 },
    ]);
  });
});

describe("assignLanes", () => {
  it("puts sessions that follow each other in one lane", () => {
    const lanes = assignLanes([
      { id: 1, firstMs: 0, lastMs: 10 },
      { id: 2, firstMs: 20, lastMs: 30 },
      { id: 3, firstMs: 40, lastMs: 50 },
    ]);
    expect([...lanes.values()]).toEqual([0, 0, 0]);
  });

  it("gives overlapping sessions their own lanes and reuses a freed lane", () => {
    const lanes = assignLanes([
      { id: 1, firstMs: 0, lastMs: 100 },
      { id: 2, firstMs: 10, lastMs: 40 },
      { id: 3, firstMs: 50, lastMs: 60 },
    ]);
    expect(lanes.get(1)).toBe(0);
    expect(lanes.get(2)).toBe(1);
    expect(lanes.get(3)).toBe(1);
  });

  it("treats a session starting at the very moment another ended as overlapping", () => {
    const lanes = assignLanes([
      { id: 1, firstMs: 0, lastMs: 10 },
      { id: 2, firstMs: 10, lastMs: 20 },
    ]);
    expect(lanes.get(2)).toBe(1);
  });
});

describe("pathOfStages / describeSessions", () => {
  it("names the path whose declared stages include every stage of the session", () => {
    expect(pathOfStages(new Set(NATIVE))).toBe("native");
    expect(pathOfStages(new Set(GAMESTREAM))).toBe("gamestream");
    expect(pathOfStages(new Set(["capture", "packetize"]))).toBe("gamestream");
    expect(pathOfStages(new Set(["submit"]))).toBe("native");
    // Stages both paths have, or one neither declares: the stages do not tell.
    expect(pathOfStages(new Set(["capture", "encode", "send"]))).toBeNull();
    expect(pathOfStages(new Set(["capture", "warp"]))).toBeNull();
  });

  it("describes each session in first-seen order: its path and whether RTT was measured", () => {
    const samples = [
      sample(1000, { session_id: 4 }),
      sample(1500, { session_id: 7, rtt_us: null }, GAMESTREAM),
      sample(2500, { session_id: 7, rtt_us: 1800 }, GAMESTREAM),
      sample(3000, { session_id: 4 }),
    ];
    expect(describeSessions(samples, "native")).toEqual([
      { id: 4, kind: "native", measuresRtt: false, measuresSoundInput: false },
      { id: 7, kind: "gamestream", measuresRtt: true, measuresSoundInput: false },
    ]);
  });

  it("says which sessions counted sound or input", () => {
    const samples = [
      sample(1000, { session_id: 1 }),
      sample(1500, { session_id: 2, input_events: 0 }, GAMESTREAM),
      sample(2000, { session_id: 3, audio_encode_p99_us: 300 }, GAMESTREAM),
      sample(2500, { session_id: 4 }, GAMESTREAM),
    ];
    expect(describeSessions(samples).map((s) => s.measuresSoundInput)).toEqual([false, true, true, false]);
  });

  it("takes the capture's kind for a first session whose stages do not tell, and only for it", () => {
    const shared = ["capture", "encode"];
    const samples = [sample(1000, { session_id: 1 }, shared), sample(2000, { session_id: 2 }, shared), sample(3000, { session_id: 3 }, [])];
    expect(describeSessions(samples, "gamestream").map((s) => s.kind)).toEqual(["gamestream", null, null]);
    expect(describeSessions(samples, "").map((s) => s.kind)).toEqual([null, null, null]);
    expect(describeSessions(samples, "warp").map((s) => s.kind)).toEqual([null, null, null]);
    expect(describeSessions([])).toEqual([]);
  });
});
