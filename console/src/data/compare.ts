/**
 * Comparing recordings: the overlay alignment (several recordings on one "t since start"
 * axis), and reading the host's comparison (its metric keys, units and p-values) for the
 * summary table.
 */
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

// -- the host's comparison ------------------------------------------------------------------
//
// The summary table shows the host's `Comparison` (GET /api/v1/stats/compare): its figures,
// its relative changes, and its verdicts. Better or worse is the host's call (a change of
// more than `threshold` that is also significant, Mann-Whitney U p < `alpha`, over the
// windows of the two recordings); the console never grades a difference itself.

/** What a row's `metric` key names (`ComparisonRow.metric`), for a localized label. */
export type MetricName =
  | { kind: "stage"; stage: string; pct: Percentile }
  | { kind: "host"; pct: Percentile }
  | { kind: "audioEncode"; pct: Percentile }
  | { kind: "fps" }
  | { kind: "repeatFps" }
  | { kind: "mbps" }
  | { kind: "clientDecode" }
  | { kind: "rtt" }
  | { kind: "counter"; field: string }
  /** A metric this console does not know (a newer host): shown with the host's label. */
  | { kind: "other" };

const PCT = /^(p50|p99)$/;

export function parseMetric(key: string): MetricName {
  const parts = key.split(":");
  const last = parts[parts.length - 1];
  const pct = PCT.test(last) ? (last as Percentile) : null;
  switch (parts[0]) {
    case "stage":
      // a stage's name may hold a colon: everything between the first and the last
      return parts.length >= 3 && pct !== null ? { kind: "stage", stage: parts.slice(1, -1).join(":"), pct } : { kind: "other" };
    case "host":
      return parts.length === 2 && pct !== null ? { kind: "host", pct } : { kind: "other" };
    case "audio_encode":
      return parts.length === 2 && pct !== null ? { kind: "audioEncode", pct } : { kind: "other" };
    case "counter":
      return parts.length === 2 && parts[1] !== "" ? { kind: "counter", field: parts[1] } : { kind: "other" };
    default:
      break;
  }
  if (parts.length !== 1) return { kind: "other" };
  switch (key) {
    case "fps":
      return { kind: "fps" };
    case "repeat_fps":
      return { kind: "repeatFps" };
    case "mbps":
      return { kind: "mbps" };
    case "client_decode":
      return { kind: "clientDecode" };
    case "rtt":
      return { kind: "rtt" };
    default:
      return { kind: "other" };
  }
}

/** How a row's figures are shown: the host sends latencies in µs, the table shows ms. */
export interface ShownUnit {
  /** Divide the host's value by this (as the CLI does: µs / 1000). */
  divisor: number;
  digits: number;
  /** After the number (with its space), "" for none. */
  suffix: string;
}

export function shownUnit(unit: string): ShownUnit {
  switch (unit) {
    case "us":
      return { divisor: 1000, digits: 3, suffix: " ms" };
    case "fps":
      return { divisor: 1, digits: 1, suffix: " fps" };
    case "Mb/s":
      return { divisor: 1, digits: 2, suffix: " Mb/s" };
    case "per window":
      return { divisor: 1, digits: 2, suffix: "" };
    default:
      return { divisor: 1, digits: 3, suffix: unit === "" ? "" : ` ${unit}` };
  }
}

/**
 * A p-value for people: "p = 0.0123" (three significant digits), "p < 0.001" below that.
 * Cut off, never rounded up, so that a p just under alpha (0.04999) never reads as alpha.
 */
export function formatPValue(p: number, locale: string): string {
  if (p < 0.001) return `p < ${new Intl.NumberFormat(locale, { minimumFractionDigits: 3 }).format(0.001)}`;
  return `p = ${new Intl.NumberFormat(locale, { maximumSignificantDigits: 3, roundingMode: "trunc" }).format(p)}`;
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
