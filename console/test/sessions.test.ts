import { describe, expect, it } from "vitest";
import { assignLanes, sessionSpans } from "../src/data/sessions";

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
