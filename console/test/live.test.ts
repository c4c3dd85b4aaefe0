import { describe, expect, it } from "vitest";
import { EMPTY_CURSOR, liveStep } from "../src/data/live";
import { capture, series } from "./fixtures";

const started = 1_750_000_000_000;

describe("liveStep", () => {
  it("starts from the first response", () => {
    const step = liveStep(EMPTY_CURSOR, capture(series(2), { started_unix_ms: started }));
    expect(step.kind).toBe("reset");
    expect(step.cursor).toEqual({ startedUnixMs: started, received: 2 });
  });

  it("appends the samples after the offset of the same capture", () => {
    const cursor = { startedUnixMs: started, received: 2 };
    const response = capture(series(3).slice(2), { started_unix_ms: started, sample_count: 3 });
    const step = liveStep(cursor, response);
    expect(step.kind).toBe("append");
    if (step.kind === "append") expect(step.samples).toHaveLength(1);
    expect(step.cursor.received).toBe(3);
  });

  it("appends nothing when no window closed since the last poll", () => {
    const cursor = { startedUnixMs: started, received: 3 };
    const step = liveStep(cursor, capture([], { started_unix_ms: started, sample_count: 3 }));
    expect(step).toEqual({ kind: "append", samples: [], cursor });
  });

  it("asks for a refetch from 0 when a new capture started", () => {
    const cursor = { startedUnixMs: started, received: 5 };
    const step = liveStep(cursor, capture([], { started_unix_ms: started + 60_000, sample_count: 1 }));
    expect(step).toEqual({ kind: "refetch", cursor: { startedUnixMs: started + 60_000, received: 0 } });
  });

  it("treats fewer samples than we hold as another capture", () => {
    const cursor = { startedUnixMs: started, received: 5 };
    expect(liveStep(cursor, capture([], { started_unix_ms: started, sample_count: 2 })).kind).toBe("refetch");
  });
});
