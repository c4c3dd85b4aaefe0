/**
 * Comparing recordings: the overlay alignment (several recordings on one "t since start"
 * axis) and the summary table with each value judged against the first recording picked.
 */
import { mergeStageLists } from "./stages";
import type { RecordingSummary } from "./summary";
import type { Column, Lane, Percentile } from "./timeline";

export interface Track {
  /** Ascending x values of this track. */
  x: readonly number[];
  /** Columns aligned with `x`. */
  ys: readonly Column[];
}

export interface Aligned {
  x: number[];
  /** Every track's columns, in track order, aligned with `x`. */
  ys: Column[];
}

/**
 * Merge tracks onto one x axis (a k-way merge). Rows with equal x from different tracks
 * share one output row; a track without a point at some x gets `undefined` there (uPlot
 * draws across it), while the track's own `null`s (gaps) are kept. A track's repeated x
 * values stay separate rows, so no gap row is lost.
 */
export function alignTracks(tracks: readonly Track[]): Aligned {
  const heads = tracks.map(() => 0);
  const x: number[] = [];
  const ys: Column[] = [];
  for (const track of tracks) for (let c = 0; c < track.ys.length; c++) ys.push([]);
  for (;;) {
    let min = Infinity;
    for (let t = 0; t < tracks.length; t++) {
      const h = heads[t];
      if (h < tracks[t].x.length && tracks[t].x[h] < min) min = tracks[t].x[h];
    }
    if (min === Infinity) break;
    x.push(min);
    let col = 0;
    for (let t = 0; t < tracks.length; t++) {
      const track = tracks[t];
      const h = heads[t];
      const here = h < track.x.length && track.x[h] === min;
      for (let c = 0; c < track.ys.length; c++) {
        ys[col++].push(here ? track.ys[c][h] : undefined);
      }
      if (here) heads[t] = h + 1;
    }
  }
  return { x, ys };
}

export type Better = "lower" | "higher" | "neutral";
export type Verdict = "better" | "worse" | "same" | "neutral";

export interface Delta {
  /** value - baseline */
  abs: number;
  /** (value - baseline) / baseline; null when the baseline is 0. */
  rel: number | null;
  verdict: Verdict;
}

/** Relative change at or below this counts as "same" for continuous metrics (noise). */
export const SAME_WITHIN = 0.05;
/** Latency changes at or below this many ms count as "same" whatever the ratio. */
export const SAME_WITHIN_MS = 0.05;

/**
 * How `value` compares to `baseline`. Continuous metrics need a change of more than
 * SAME_WITHIN (and, for latencies, more than SAME_WITHIN_MS); counts (drops) count any
 * change. Neutral metrics are only ever "same" or "neutral" (changed, no grade). Null when
 * either side is unmeasured.
 */
export function judge(
  baseline: number | null,
  value: number | null,
  better: Better,
  kind: "continuous" | "count",
  minAbs = 0,
): Delta | null {
  if (baseline === null || value === null) return null;
  const abs = value - baseline;
  const rel = baseline === 0 ? null : abs / Math.abs(baseline);
  let changed: boolean;
  if (kind === "count") changed = abs !== 0;
  else changed = Math.abs(abs) > minAbs && (rel === null ? abs !== 0 : Math.abs(rel) > SAME_WITHIN);
  if (!changed) return { abs, rel, verdict: "same" };
  if (better === "neutral") return { abs, rel, verdict: "neutral" };
  const improved = better === "lower" ? abs < 0 : abs > 0;
  return { abs, rel, verdict: improved ? "better" : "worse" };
}

export type MetricId =
  | "stage_p50"
  | "stage_p99"
  | "stages_total_p50"
  | "stages_total_p99"
  | "host_p50"
  | "host_p99"
  | "mean_fps"
  | "mean_repeat_fps"
  | "mean_mbps"
  | "frames_dropped"
  | "packets_dropped"
  | "send_dropped"
  | "fec_recovered";

export type Unit = "ms" | "fps" | "mbps" | "count";

export interface CompareRow {
  metric: MetricId;
  /** The stage, for stage_p50 / stage_p99 rows. */
  stage: string | null;
  unit: Unit;
  values: (number | null)[];
  /** Per recording, against the first; null for the first and for unmeasured values. */
  deltas: (Delta | null)[];
}

interface RowDef {
  metric: MetricId;
  unit: Unit;
  better: Better;
  kind: "continuous" | "count";
  get: (s: RecordingSummary) => number | null;
}

const AFTER_STAGES: readonly RowDef[] = [
  { metric: "stages_total_p50", unit: "ms", better: "lower", kind: "continuous", get: (s) => s.stagesTotalP50Ms },
  { metric: "stages_total_p99", unit: "ms", better: "lower", kind: "continuous", get: (s) => s.stagesTotalP99Ms },
  { metric: "host_p50", unit: "ms", better: "lower", kind: "continuous", get: (s) => s.hostP50Ms },
  { metric: "host_p99", unit: "ms", better: "lower", kind: "continuous", get: (s) => s.hostP99Ms },
  { metric: "mean_fps", unit: "fps", better: "higher", kind: "continuous", get: (s) => s.meanFps },
  { metric: "mean_repeat_fps", unit: "fps", better: "lower", kind: "continuous", get: (s) => s.meanRepeatFps },
  { metric: "mean_mbps", unit: "mbps", better: "neutral", kind: "continuous", get: (s) => s.meanMbps },
  { metric: "frames_dropped", unit: "count", better: "lower", kind: "count", get: (s) => s.framesDropped },
  { metric: "packets_dropped", unit: "count", better: "lower", kind: "count", get: (s) => s.packetsDropped },
  { metric: "send_dropped", unit: "count", better: "lower", kind: "count", get: (s) => s.sendDropped },
  // More recoveries means more loss happened (and was repaired): informative, not a grade.
  { metric: "fec_recovered", unit: "count", better: "neutral", kind: "count", get: (s) => s.fecRecovered },
];

function row(def: RowDef, stage: string | null, summaries: readonly RecordingSummary[]): CompareRow {
  const values = summaries.map(def.get);
  const base = values[0] ?? null;
  return {
    metric: def.metric,
    stage,
    unit: def.unit,
    values,
    deltas: values.map((v, i) =>
      i === 0 ? null : judge(base, v, def.better, def.kind, def.unit === "ms" ? SAME_WITHIN_MS : 0),
    ),
  };
}

/** The summary table: every stage seen in any recording, in pipeline order (p50 and p99), then the rest. */
export function compareRows(summaries: readonly RecordingSummary[]): CompareRow[] {
  const stages = mergeStageLists(summaries.map((s) => s.stages.map((st) => st.name)));
  const rows: CompareRow[] = [];
  for (const name of stages) {
    for (const pct of ["p50", "p99"] as const) {
      const def: RowDef = {
        metric: pct === "p50" ? "stage_p50" : "stage_p99",
        unit: "ms",
        better: "lower",
        kind: "continuous",
        get: (s) => {
          const st = s.stages.find((x) => x.name === name);
          return st === undefined ? null : pct === "p50" ? st.p50Ms : st.p99Ms;
        },
      };
      rows.push(row(def, name, summaries));
    }
  }
  for (const def of AFTER_STAGES) {
    const r = row(def, null, summaries);
    if (r.values.some((v) => v !== null)) rows.push(r);
  }
  return rows;
}

// -- overlay columns ----------------------------------------------------------------------

export type OverlayMetric =
  | { kind: "stagesTotal" }
  | { kind: "stage"; name: string }
  | { kind: "fps" }
  | { kind: "mbps" };

/** The column of `lane` that the overlay plots for `metric`; null when the lane lacks it. */
export function overlayColumn(lane: Lane, metric: OverlayMetric, pct: Percentile): Column | null {
  switch (metric.kind) {
    case "stagesTotal": {
      const stack = pct === "p50" ? lane.stack50 : lane.stack99;
      return stack.length === 0 ? null : stack[stack.length - 1];
    }
    case "stage": {
      const i = lane.stages.indexOf(metric.name);
      if (i < 0) return null;
      return pct === "p50" ? lane.p50[i] : lane.p99[i];
    }
    case "fps":
      return lane.cols.fps;
    case "mbps":
      return lane.cols.mbps;
  }
}
