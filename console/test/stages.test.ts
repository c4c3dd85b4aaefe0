import { describe, expect, it } from "vitest";
import { STAGE_SETS } from "../src/api/stages.gen";
import { hashName, mergeStageLists, mergeStageOrder, PIPELINE_ORDER, stageColor } from "../src/data/stages";
import { GAMESTREAM, NATIVE } from "./fixtures";

describe("PIPELINE_ORDER", () => {
  it("holds every stage the host declares once, each path's stages in that path's order", () => {
    const declared = new Set(Object.values(STAGE_SETS).flat());
    expect(new Set(PIPELINE_ORDER)).toEqual(declared);
    expect(PIPELINE_ORDER).toHaveLength(declared.size);
    for (const stages of Object.values(STAGE_SETS)) {
      expect(PIPELINE_ORDER.filter((name) => (stages as readonly string[]).includes(name))).toEqual([...stages]);
    }
  });
});

describe("mergeStageOrder", () => {
  it("returns null when the sample adds no stage", () => {
    expect(mergeStageOrder([...NATIVE], [...NATIVE])).toBeNull();
    expect(mergeStageOrder([...NATIVE], [])).toBeNull();
  });

  it("takes a path's stages in the path's order", () => {
    expect(mergeStageOrder([], NATIVE)).toEqual([...NATIVE]);
    expect(mergeStageOrder([], GAMESTREAM)).toEqual([...GAMESTREAM]);
  });

  it("puts the stages the host declares in pipeline order, whatever order a sample lists them in", () => {
    expect(mergeStageOrder([], [...NATIVE].reverse())).toEqual([...NATIVE]);
    expect(mergeStageOrder([NATIVE[4]], [NATIVE[0]])).toEqual([NATIVE[0], NATIVE[4]]);
  });

  it("merges the paths into the pipeline order", () => {
    expect(mergeStageOrder([...NATIVE], GAMESTREAM)).toEqual([...PIPELINE_ORDER]);
    expect(mergeStageOrder([...GAMESTREAM], NATIVE)).toEqual([...PIPELINE_ORDER]);
  });

  it("inserts a stage it does not know right after its predecessor in the sample", () => {
    expect(mergeStageOrder([...NATIVE], [NATIVE[0], "colorconvert", NATIVE[1]])).toEqual([
      NATIVE[0],
      "colorconvert",
      ...NATIVE.slice(1),
    ]);
  });

  it("puts a new leading stage it does not know first", () => {
    expect(mergeStageOrder([NATIVE[2]], ["grab", NATIVE[2]])).toEqual(["grab", NATIVE[2]]);
  });
});

describe("mergeStageLists", () => {
  it("merges lists in pipeline order, and is empty for none", () => {
    expect(mergeStageLists([GAMESTREAM, NATIVE, []])).toEqual([...PIPELINE_ORDER]);
    expect(mergeStageLists([])).toEqual([]);
  });
});

describe("stageColor", () => {
  it("gives every stage the host declares its own colour", () => {
    for (const scheme of ["light", "dark"] as const) {
      const colours = PIPELINE_ORDER.map((n) => stageColor(n, scheme));
      expect(new Set(colours).size).toBe(PIPELINE_ORDER.length);
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
