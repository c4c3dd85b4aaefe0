// Keyboard inspection: where each key moves the cursor, and the text read at a point.
import { describe, expect, it } from "vitest";
import type uPlot from "uplot";
import { cursorReadout, stepIndex, visibleRange } from "../src/charts/inspect";
import { healthChart, latencyChart, throughputChart, type ChartEnv } from "../src/charts/specs";
import { buildTimeline } from "../src/data/timeline";
import { translator } from "../src/i18n/messages";
import { NATIVE, sample, series } from "./fixtures";

const all = (x: readonly number[]) => ({ lo: 0, hi: x.length - 1 });

describe("stepIndex", () => {
  const x = Array.from({ length: 25 }, (_, i) => i * 2);

  it("moves one point with the arrows and stops at the ends", () => {
    expect(stepIndex(x, 3, "ArrowRight", all(x))).toBe(4);
    expect(stepIndex(x, 3, "ArrowLeft", all(x))).toBe(2);
    expect(stepIndex(x, 24, "ArrowRight", all(x))).toBe(24);
    expect(stepIndex(x, 0, "ArrowLeft", all(x))).toBe(0);
  });

  it("starts at the first point going forward and at the last going back", () => {
    expect(stepIndex(x, null, "ArrowRight", all(x))).toBe(0);
    expect(stepIndex(x, null, "PageUp", all(x))).toBe(0);
    expect(stepIndex(x, null, "ArrowLeft", all(x))).toBe(24);
    expect(stepIndex(x, null, "PageDown", all(x))).toBe(24);
  });

  it("jumps to the ends with Home and End, and by a tenth with PageUp and PageDown", () => {
    expect(stepIndex(x, 10, "Home", all(x))).toBe(0);
    expect(stepIndex(x, 10, "End", all(x))).toBe(24);
    // 25 points: a tenth is 3 (rounded up from 2.5)
    expect(stepIndex(x, 10, "PageUp", all(x))).toBe(13);
    expect(stepIndex(x, 10, "PageDown", all(x))).toBe(7);
    expect(stepIndex(x, 23, "PageUp", all(x))).toBe(24);
    expect(stepIndex(x, 1, "PageDown", all(x))).toBe(0);
  });

  it("treats rows with the same x as one stop", () => {
    const twins = [0, 2, 2, 2, 4];
    expect(stepIndex(twins, 1, "ArrowRight", all(twins))).toBe(4);
    expect(stepIndex(twins, 3, "ArrowRight", all(twins))).toBe(4);
    expect(stepIndex(twins, 4, "ArrowLeft", all(twins))).toBe(1);
    expect(stepIndex(twins, 2, "ArrowLeft", all(twins))).toBe(0);
    expect(stepIndex([5, 5, 5], 0, "ArrowRight", all([5, 5, 5]))).toBe(0);
  });

  it("stays within the visible (zoomed) points", () => {
    const zoom = { lo: 5, hi: 9 };
    expect(stepIndex(x, 9, "ArrowRight", zoom)).toBe(9);
    expect(stepIndex(x, 5, "ArrowLeft", zoom)).toBe(5);
    expect(stepIndex(x, 2, "ArrowRight", zoom)).toBe(5);
    expect(stepIndex(x, 20, "ArrowLeft", zoom)).toBe(9);
    expect(stepIndex(x, 7, "End", zoom)).toBe(9);
  });

  it("ignores other keys and empty charts", () => {
    expect(stepIndex(x, 3, "ArrowUp", all(x))).toBeNull();
    expect(stepIndex(x, 3, "a", all(x))).toBeNull();
    expect(stepIndex([], null, "ArrowRight", { lo: 0, hi: -1 })).toBeNull();
  });
});

/** Enough of a uPlot instance for the readout: the model's series and data. */
function plotOf(model: { options: { series?: uPlot.Series[] }; data: uPlot.AlignedData }, hidden: number[] = []): uPlot {
  const seriesList = (model.options.series ?? []).map((s, i) => ({ ...s, show: !hidden.includes(i) }));
  return { series: seriesList, data: model.data } as unknown as uPlot;
}

describe("cursorReadout", () => {
  const env: ChartEnv = { scheme: "light", t: translator("en"), locale: "en-GB", syncKey: "x" };

  it("reads the time and each series with its unit, stages with their own value", () => {
    const tl = buildTimeline(series(3), 1000 / 60);
    const model = latencyChart(tl, 0, "p50", env, "d");
    const text = cursorReadout(plotOf(model), 1);
    // fixtures: stage i has p50 = i+1 ms; the stacked edge is not what is read
    const stages = NATIVE.map((name, i) => `${name} ${i + 1}.000 ms`);
    expect(text).toBe(["0:04", ...stages, "host total 16.000 ms", "frame budget 16.7 ms 16.667 ms"].join(" · "));
  });

  it("leaves out series the user hid and says — for a window that did not measure", () => {
    const tl = buildTimeline([sample(2000), sample(4000, { frames_dropped: null }), sample(6000, { frames_dropped: 3 })]);
    const model = healthChart(tl, env, "d");
    expect(cursorReadout(plotOf(model), 1)).toBe("0:04 · frames dropped — · send dropped 0");
    expect(cursorReadout(plotOf(model), 2)).toBe("0:06 · frames dropped 3 · send dropped 0");
    const labels = (model.options.series ?? []).map((s) => s.label);
    expect(cursorReadout(plotOf(model, [labels.indexOf("send dropped")]), 2)).toBe("0:06 · frames dropped 3");
  });

  it("leaves out a lane that has no sample at that time", () => {
    // Two sessions at once: session 2's columns are undefined at session 1's rows.
    const one = [2000, 4000, 6000].map((t) => sample(t, { session_id: 1 }));
    const two = [3000, 5000].map((t) => sample(t, { session_id: 2, fps: 30 }));
    const tl = buildTimeline([...one, ...two].sort((a, b) => a.t_ms - b.t_ms));
    expect(tl.lanes).toHaveLength(2);
    const model = throughputChart(tl, env, "d");
    const text = cursorReadout(plotOf(model), 0);
    expect(text).toContain("new fps · session 1 60.0 fps");
    expect(text).not.toContain("session 2");
  });
});

describe("visibleRange", () => {
  const x = [0, 2, 4, 6, 8, 10];
  const closest = (v: number) => {
    let best = 0;
    for (let i = 1; i < x.length; i++) if (Math.abs(x[i] - v) < Math.abs(x[best] - v)) best = i;
    return best;
  };
  const plot = (min: number | undefined, max: number | undefined) =>
    ({ data: [x], scales: { x: { min, max } }, valToIdx: closest }) as unknown as uPlot;

  it("is every point unless zoomed", () => {
    expect(visibleRange(plot(undefined, undefined))).toEqual({ lo: 0, hi: 5 });
    expect(visibleRange(plot(0, 10))).toEqual({ lo: 0, hi: 5 });
  });

  it("keeps only the points inside a zoom", () => {
    expect(visibleRange(plot(3.2, 7.1))).toEqual({ lo: 2, hi: 3 });
    expect(visibleRange(plot(2.9, 7.9))).toEqual({ lo: 2, hi: 3 });
  });
});
