import { describe, expect, it } from "vitest";
import { hashName, mergeStageOrder, stageColor } from "../src/data/stages";
import { GAMESTREAM, NATIVE } from "./fixtures";

describe("mergeStageOrder", () => {
  it("returns null when the sample adds no stage", () => {
    expect(mergeStageOrder(["capture", "encode"], ["capture", "encode"])).toBeNull();
    expect(mergeStageOrder(["capture", "encode"], [])).toBeNull();
  });

  it("takes the first sample's order as is", () => {
    expect(mergeStageOrder([], NATIVE)).toEqual([...NATIVE]);
  });

  it("inserts a new stage right after its predecessor in the sample", () => {
    expect(mergeStageOrder([...NATIVE], GAMESTREAM)).toEqual([
      "capture",
      "submit",
      "encode",
      "packetize",
      "handoff",
      "send",
    ]);
  });

  it("puts a new leading stage first", () => {
    expect(mergeStageOrder(["encode"], ["grab", "encode"])).toEqual(["grab", "encode"]);
  });
});

describe("stageColor", () => {
  it("gives every known native and gamestream stage its own colour", () => {
    const names = [...new Set([...NATIVE, ...GAMESTREAM])];
    for (const scheme of ["light", "dark"] as const) {
      const colours = names.map((n) => stageColor(n, scheme));
      expect(new Set(colours).size).toBe(names.length);
    }
  });

  it("is stable for unknown stages", () => {
    expect(stageColor("colorconvert", "dark")).toBe(stageColor("colorconvert", "dark"));
    expect(hashName("colorconvert")).toBe(hashName("colorconvert"));
    expect(stageColor("colorconvert", "light")).toMatch(/^#[0-9a-f]{6}$/);
  });

  it("does not look up inherited properties for odd names", () => {
    expect(stageColor("constructor", "light")).toMatch(/^#[0-9a-f]{6}$/);
    expect(stageColor("__proto__", "dark")).toMatch(/^#[0-9a-f]{6}$/);
  });
});
