// The time axis: elapsed labels by default, local clock labels as an option, from the
// same x data (seconds since the start). The zone is fixed so that clock times are known
// (Node applies a change of TZ to every later Date and Intl call).
declare const process: { env: Record<string, string | undefined> };
process.env["TZ"] = "Europe/Berlin";

import { afterEach, describe, expect, it } from "vitest";
import type uPlot from "uplot";
import { latencyChart, type ChartEnv } from "../src/charts/specs";
import { loadTimeAxisMode, saveTimeAxisMode, TimeAxis } from "../src/charts/timeAxis";
import { buildTimeline } from "../src/data/timeline";
import { translator } from "../src/i18n/messages";
import { series } from "./fixtures";

// 2026-06-26 20:14:03.250 UTC = 22:14:03 in Berlin (summer time, UTC+2).
const START = Date.UTC(2026, 5, 26, 20, 14, 3, 250);

describe("TimeAxis", () => {
  it("labels elapsed time by default, whatever the start", () => {
    const axis = new TimeAxis("elapsed", START);
    expect(axis.wall).toBe(false);
    expect(axis.key).toBe("elapsed");
    expect(axis.tick(65, 5, "en-GB")).toBe("1:05");
    expect(axis.tick(3725, 60, "en-GB")).toBe("1:02:05");
    expect(axis.readout(42.9, "en-GB")).toBe("0:42");
    expect(axis.readout(null, "en-GB")).toBe("—");
    expect(axis.splits(0, 100, 30)).toEqual([0, 30, 60, 90]);
    expect(axis.splits(7, 61, 15)).toEqual([15, 30, 45, 60]);
  });

  it("labels local clock time from the start, with ticks on round clock times", () => {
    const axis = new TimeAxis("wall", START);
    expect(axis.wall).toBe(true);
    expect(axis.key).toBe(`wall:${START}`);
    expect(axis.readout(0, "en-GB")).toBe("22:14:03");
    expect(axis.readout(3600 + 60 + 1.75, "de-DE")).toBe("23:15:05");
    // Every 30 s of the clock: the first at 22:14:30, 26.75 s after the start.
    const splits = axis.splits(0, 100, 30);
    expect(splits.map((v) => axis.tick(v, 30, "en-GB"))).toEqual(["22:14:30", "22:15:00", "22:15:30"]);
    expect(splits[0]).toBeCloseTo(26.75, 9);
    // Whole minutes leave the seconds out; hours fall on the local hour (UTC+2 here).
    expect(axis.splits(0, 4000, 3600).map((v) => axis.tick(v, 3600, "en-GB"))).toEqual(["23:00"]);
    expect(axis.splits(0, 200, 60).map((v) => axis.tick(v, 60, "en-GB"))).toEqual(["22:15", "22:16", "22:17"]);
  });

  it("falls back to elapsed time when the start is unknown", () => {
    for (const start of [null, 0]) {
      const axis = new TimeAxis("wall", start);
      expect(axis.wall).toBe(false);
      expect(axis.tick(65, 5, "en-GB")).toBe("1:05");
    }
  });

  it("gives no ticks for an empty or broken range", () => {
    const axis = new TimeAxis();
    expect(axis.splits(10, 5, 1)).toEqual([]);
    expect(axis.splits(0, 10, 0)).toEqual([]);
    expect(axis.splits(Number.NaN, 10, 1)).toEqual([]);
  });
});

describe("chart models and the time axis", () => {
  const t = translator("en");

  it("read the axis when drawing, so a switch needs no new model", () => {
    const time = new TimeAxis("elapsed", START);
    const env: ChartEnv = { scheme: "light", t, locale: "en-GB", syncKey: "x", time };
    const model = latencyChart(buildTimeline(series(3)), 0, "p50", env, "d");
    const xAxis = model.options.axes?.[0];
    const xSeries = model.options.series?.[0];
    const u = {} as uPlot;
    const values = xAxis?.values;
    const splits = xAxis?.splits;
    const readout = xSeries?.value;
    if (typeof values !== "function" || typeof splits !== "function" || typeof readout !== "function") {
      throw new Error("the time axis has no label functions");
    }
    expect(values(u, [0, 60], 0, 50, 60)).toEqual(["0:00", "1:00"]);
    expect(readout(u, 2, 0, 0)).toBe("0:02");
    time.mode = "wall";
    expect(values(u, [0], 0, 50, 5)).toEqual(["22:14:03"]);
    expect(readout(u, 2, 0, 0)).toBe("22:14:05");
    expect(splits(u, 0, 0, 60, 30, 50)).toEqual(time.splits(0, 60, 30));
    // The x data are untouched: seconds since the start.
    expect(model.data[0]).toEqual([2, 4, 6]);
  });

  it("default to elapsed time (compare aligns recordings on it)", () => {
    const env: ChartEnv = { scheme: "light", t, locale: "en-GB", syncKey: "x" };
    const model = latencyChart(buildTimeline(series(2)), 0, "p50", env, "d");
    const readout = model.options.series?.[0]?.value;
    expect(typeof readout === "function" ? readout({} as uPlot, 65, 0, 0) : null).toBe("1:05");
  });
});

describe("the remembered choice", () => {
  const original = Object.getOwnPropertyDescriptor(globalThis, "window");
  afterEach(() => {
    if (original === undefined) delete (globalThis as { window?: unknown }).window;
    else Object.defineProperty(globalThis, "window", original);
  });

  it("is kept in localStorage and defaults to elapsed", () => {
    const store = new Map<string, string>();
    const localStorage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    };
    Object.defineProperty(globalThis, "window", { value: { localStorage }, configurable: true });
    expect(loadTimeAxisMode()).toBe("elapsed");
    saveTimeAxisMode("wall");
    expect(store.get("punktfunk.timeAxis")).toBe("wall");
    expect(loadTimeAxisMode()).toBe("wall");
    store.set("punktfunk.timeAxis", "nonsense");
    expect(loadTimeAxisMode()).toBe("elapsed");
  });

  it("works without storage (a browser that refuses it)", () => {
    Object.defineProperty(globalThis, "window", {
      value: {
        get localStorage(): Storage {
          throw new Error("denied");
        },
      },
      configurable: true,
    });
    expect(loadTimeAxisMode()).toBe("elapsed");
    expect(() => saveTimeAxisMode("wall")).not.toThrow();
  });
});
