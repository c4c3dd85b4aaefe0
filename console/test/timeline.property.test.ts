/**
 * A live capture's timeline, grown batch by batch, is the timeline of a saved recording
 * with the same samples: for any multi-session input (sessions one after another and at
 * the same time, paths with different stages, unknown stages, fields measured from some
 * window on, samples arriving slightly out of order) and any split into batches.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { STAGE_SETS } from "../src/api/stages.gen";
import type { StatsSample } from "../src/api/types";
import { mergeStageOrder, PIPELINE_ORDER } from "../src/data/stages";
import { buildTimeline, TimelineBuilder, type AppendResult, type Timeline } from "../src/data/timeline";
import { sample } from "./fixtures";

const PATHS = Object.values(STAGE_SETS);
// Hundreds of generated captures take a few seconds on a busy machine: no test timeout
// should cut them short (this bounds a hang, it does not measure speed).
const PROPERTY_TIMEOUT_MS = 60_000;

/** A window's stages: the path's own, or that list with one stage left out or an unknown one added. */
const stageList = (path: readonly string[]) =>
  fc.oneof(
    { arbitrary: fc.constant([...path]), weight: 6 },
    { arbitrary: fc.nat(path.length - 1).map((drop) => path.filter((_, i) => i !== drop)), weight: 1 },
    { arbitrary: fc.nat(path.length).map((at) => [...path.slice(0, at), "colorconvert", ...path.slice(at)]), weight: 1 },
    { arbitrary: fc.constant([]), weight: 1 },
  );

const maybe = (value: fc.Arbitrary<number>) => fc.option(value, { nil: null, freq: 3 });

const statsWindow = (path: readonly string[]) =>
  fc.record({
    gapMs: fc.integer({ min: 0, max: 4000 }),
    stages: stageList(path),
    fec_recovered: maybe(fc.nat(20)),
    gpu_util_pct: maybe(fc.integer({ min: 0, max: 100 })),
    client_decode_us: maybe(fc.integer({ min: 0, max: 9000 })),
    // Per-window counts drawn per second: the window length comes from the previous sample.
    audio_packets: maybe(fc.nat(400)),
    input_events: maybe(fc.nat(300)),
  });

const session = fc
  .record({ startMs: fc.integer({ min: 0, max: 12_000 }), path: fc.constantFrom(...PATHS) })
  .chain(({ startMs, path }) => fc.record({ startMs: fc.constant(startMs), windows: fc.array(statsWindow(path), { minLength: 1, maxLength: 8 }) }));

/** Samples of 1–5 sessions, in arrival order: by time, but a few arrive up to 3 places early. */
const capture = fc
  .record({
    sessions: fc.array(session, { minLength: 1, maxLength: 5 }),
    early: fc.array(fc.record({ at: fc.nat(), by: fc.integer({ min: 1, max: 3 }) }), { maxLength: 3 }),
  })
  .map(({ sessions, early }) => {
    const samples: StatsSample[] = [];
    sessions.forEach(({ startMs, windows }, n) => {
      let t = startMs;
      for (const w of windows) {
        t += w.gapMs;
        samples.push(
          sample(t, {
            session_id: n + 1,
            fec_recovered: w.fec_recovered,
            gpu_util_pct: w.gpu_util_pct,
            client_decode_us: w.client_decode_us,
            audio_packets: w.audio_packets,
            input_events: w.input_events,
          }, w.stages),
        );
      }
    });
    samples.sort((a, b) => a.t_ms - b.t_ms);
    for (const { at, by } of early) {
      const i = at % samples.length;
      const [moved] = samples.splice(i, 1);
      samples.splice(Math.max(0, i - by), 0, moved);
    }
    return samples;
  });

/** Where the live polls split the samples into batches: after sample i when cuts[i]. */
const cuts = fc.array(fc.boolean(), { maxLength: 32 });

function batches(samples: readonly StatsSample[], cutAfter: readonly boolean[]): StatsSample[][] {
  const out: StatsSample[][] = [[]];
  samples.forEach((s, i) => {
    out[out.length - 1].push(s);
    if (cutAfter[i] === true) out.push([]);
  });
  return out;
}

/** What the charts are made from: lanes, their stages, their measured series. */
function structure(tl: Timeline): { stages: string[]; present: string[] }[] {
  return tl.lanes.map((lane) => ({ stages: [...lane.stages], present: [...lane.present].sort() }));
}

/** No cell is a hole: uPlot reads `undefined` and `null` differently, and both are meant. */
function expectDense(tl: Timeline): void {
  for (const lane of tl.lanes) {
    for (const col of [...lane.p50, ...lane.p99, ...lane.stack50, ...lane.stack99, ...Object.values(lane.cols)]) {
      expect(col.length).toBe(tl.x.length);
      expect(Object.keys(col).length).toBe(col.length);
    }
  }
}

describe("TimelineBuilder against buildTimeline", () => {
  it("grows, batch by batch, the timeline built from all the samples at once", () => {
    fc.assert(
      fc.property(capture, cuts, fc.boolean(), (samples, cutAfter, withBudget) => {
        const budgetMs = withBudget ? 1000 / 60 : null;
        const builder = new TimelineBuilder(budgetMs);
        for (const batch of batches(samples, cutAfter)) {
          const before = builder.timeline;
          const xBefore = before.x;
          const structureBefore = structure(before);
          const result: AppendResult = builder.append(batch);
          if (result === "appended") {
            // In place, and the same series: the charts hold these arrays and only redraw.
            expect(builder.timeline).toBe(before);
            expect(builder.timeline.x).toBe(xBefore);
            expect(structure(builder.timeline)).toEqual(structureBefore);
          }
          expect(builder.timeline).toStrictEqual(buildTimeline(builder.samplesSoFar(), budgetMs));
        }
        const all = buildTimeline(samples, budgetMs);
        expect(builder.timeline).toStrictEqual(all);
        expectDense(all);
        for (let i = 1; i < all.x.length; i++) expect(all.x[i]).toBeGreaterThanOrEqual(all.x[i - 1]);
      }),
      { numRuns: 300 },
    );
  }, PROPERTY_TIMEOUT_MS);
});

describe("mergeStageOrder", () => {
  it("keeps the stages the host declares in pipeline order, whatever order they arrive in", () => {
    const names = fc.array(fc.constantFrom(...PIPELINE_ORDER, "colorconvert", "grab"), { maxLength: 8 });
    fc.assert(
      fc.property(fc.array(names, { maxLength: 6 }), (lists) => {
        let order: string[] = [];
        for (const list of lists) order = mergeStageOrder(order, list) ?? order;
        expect(new Set(order)).toEqual(new Set(lists.flat()));
        expect(order).toHaveLength(new Set(order).size);
        const known = order.filter((name) => (PIPELINE_ORDER as readonly string[]).includes(name));
        expect(known).toEqual(PIPELINE_ORDER.filter((name) => known.includes(name)));
      }),
    );
  }, PROPERTY_TIMEOUT_MS);
});
