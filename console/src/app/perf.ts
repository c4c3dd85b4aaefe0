/**
 * Timing marks the benchmark (scripts/bench_console.py) and the e2e tests read from the
 * page: `window.__pfPerf`. Times are `performance.now()` values, i.e. ms since navigation.
 */

export interface PfPerf {
  /** When every chart of the recording detail had drawn (first time per recording). */
  detailDrawn: { id: string; at: number; samples: number; charts: number }[];
  /** Cost of each live update: new samples in hand → every live chart redrawn. */
  liveUpdates: { ms: number; appended: number; total: number; rebuilt: boolean }[];
  /** How many times each chart id was created (appends must not create charts). */
  chartCreations: Record<string, number>;
}

declare global {
  interface Window {
    __pfPerf?: PfPerf;
  }
}

export function perf(): PfPerf {
  if (window.__pfPerf === undefined) {
    window.__pfPerf = { detailDrawn: [], liveUpdates: [], chartCreations: {} };
  }
  return window.__pfPerf;
}

/**
 * Calls `done(at)` once every id in `ids` has drawn at least once. Drawn ids outside the
 * set are ignored, so late redraws of other charts don't count.
 */
export function drawBarrier(ids: readonly string[], done: (at: number) => void): (id: string) => void {
  const waiting = new Set(ids);
  let fired = false;
  if (waiting.size === 0) {
    queueMicrotask(() => done(performance.now()));
    fired = true;
  }
  return (id) => {
    if (fired || !waiting.delete(id)) return;
    if (waiting.size === 0) {
      fired = true;
      done(performance.now());
    }
  };
}
