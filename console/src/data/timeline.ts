/**
 * Samples → columnar chart data (what uPlot draws), built once and appended to in place.
 *
 * A `Timeline` has one shared x axis (seconds since the capture started) and, per lane
 * (see sessions.ts), one column per plotted quantity. uPlot's conventions carry the
 * meaning: `undefined` = "this lane has no sample at this x" (the line continues across
 * it), `null` = a gap (the line breaks): a value that was not measured, or the border
 * between two sessions sharing a lane. Latencies are converted to milliseconds here.
 *
 * One logic appends rows (`appendRows`): `buildTimeline` lays out a saved recording's
 * lanes and appends all its samples; live capture appends new samples with
 * `TimelineBuilder.append`. As long as the set of series stays the same (no new lane,
 * stage or measured field) the columns grow in place and a chart only needs `setData` on
 * the same arrays. Otherwise the timeline is rebuilt and `append` says so, so that charts
 * are recreated.
 */
import type { StageTiming, StatsSample } from "../api/types";
import { type Cells, columnsOf, type FieldName, isMeasured, rowCount, type SampleColumns, sortedByTime, stageKeyAt, stageNamesAt } from "./columns";
import { assignLanes, extendSpans, type SessionSpan } from "./sessions";
import { mergeStageOrder } from "./stages";

export type Cell = number | null | undefined;
export type Column = Cell[];

type NumericField = FieldName;

/** Every plotted scalar: which sample field it comes from and the unit conversion. */
export const SERIES = {
  fps: { field: "fps", factor: 1 },
  repeat_fps: { field: "repeat_fps", factor: 1 },
  mbps: { field: "mbps", factor: 1 },
  target_mbps: { field: "bitrate_kbps", factor: 1 / 1000 },
  frames_dropped: { field: "frames_dropped", factor: 1 },
  packets_dropped: { field: "packets_dropped", factor: 1 },
  send_dropped: { field: "send_dropped", factor: 1 },
  fec_recovered: { field: "fec_recovered", factor: 1 },
  host_p50_ms: { field: "host_p50_us", factor: 1 / 1000 },
  host_p99_ms: { field: "host_p99_us", factor: 1 / 1000 },
  client_decode_ms: { field: "client_decode_us", factor: 1 / 1000 },
  rtt_ms: { field: "rtt_us", factor: 1 / 1000 },
  audio_encode_p50_ms: { field: "audio_encode_p50_us", factor: 1 / 1000 },
  audio_encode_p99_ms: { field: "audio_encode_p99_us", factor: 1 / 1000 },
  audio_packets_ps: { field: "audio_packets", factor: 1, perSecond: true },
  input_events_ps: { field: "input_events", factor: 1, perSecond: true },
  capture_cpu_pct: { field: "capture_cpu_pct", factor: 1 },
  send_cpu_pct: { field: "send_cpu_pct", factor: 1 },
  capture_rss_mb: { field: "capture_rss_mb", factor: 1 },
  send_rss_mb: { field: "send_rss_mb", factor: 1 },
  gpu_util_pct: { field: "gpu_util_pct", factor: 1 },
  gpu_encoder_util_pct: { field: "gpu_encoder_util_pct", factor: 1 },
  gpu_encoder_fps: { field: "gpu_encoder_fps", factor: 1 },
  gpu_encoder_latency_ms: { field: "gpu_encoder_latency_us", factor: 1 / 1000 },
  gpu_graphics_clock_mhz: { field: "gpu_graphics_clock_mhz", factor: 1 },
  gpu_video_clock_mhz: { field: "gpu_video_clock_mhz", factor: 1 },
  gpu_power_w: { field: "gpu_power_w", factor: 1 },
  gpu_memory_used_mb: { field: "gpu_memory_used_mb", factor: 1 },
} as const satisfies Record<string, { field: NumericField; factor: number; perSecond?: true }>;

export type SeriesKey = keyof typeof SERIES;
export const SERIES_KEYS = Object.keys(SERIES) as SeriesKey[];
const SERIES_DEFS: readonly { key: SeriesKey; field: NumericField; factor: number; perSecond: boolean }[] = SERIES_KEYS.map(
  (key) => {
    const def: { field: NumericField; factor: number; perSecond?: true } = SERIES[key];
    return { key, field: def.field, factor: def.factor, perSecond: def.perSecond === true };
  },
);

/**
 * The window length assumed for the first window of a session, s. A sample does not carry
 * its window's length; windows of a session follow each other without a pause, so a
 * window's length is the time since the session's previous sample. The first one has none
 * before it: it gets the nominal GameStream window (the only path that counts the
 * per-second series, `perSecond`).
 */
export const FIRST_WINDOW_S = 1;

export type Percentile = "p50" | "p99";

export interface Lane {
  /** Session ids in this lane, in time order. */
  sessions: number[];
  /** The stages this lane's samples have, in pipeline order (the stacking order). */
  stages: string[];
  /** Per stage (same order as `stages`): the window's latency, ms. */
  p50: Column[];
  p99: Column[];
  /** Per stage: the stacked top edge (sum of this and every earlier stage), ms. */
  stack50: Column[];
  stack99: Column[];
  cols: Record<SeriesKey, Column>;
  /** Series with at least one measured (non-null) value in this lane. */
  present: Set<SeriesKey>;
  lastSession: number | null;
  /** t_ms of the lane's latest sample (of `lastSession`): where the next window starts. */
  lastMs: number | null;
}

export interface Timeline {
  /** Seconds since the capture started; ascending. Includes gap rows between sessions. */
  x: number[];
  lanes: Lane[];
  /** The frame budget (1000 / fps, ms) at every x, when the capture's fps is known. */
  budget: Column;
  budgetMs: number | null;
  sampleCount: number;
  sessionCount: number;
}

/** A gap row sits just before the first sample of the next session in the lane. */
const GAP_BEFORE_S = 0.0005;

function emptyLane(stages: string[]): Lane {
  const cols = {} as Record<SeriesKey, Column>;
  for (const key of SERIES_KEYS) cols[key] = [];
  return {
    sessions: [],
    stages,
    p50: stages.map(() => []),
    p99: stages.map(() => []),
    stack50: stages.map(() => []),
    stack99: stages.map(() => []),
    cols,
    present: new Set(),
    lastSession: null,
    lastMs: null,
  };
}

/**
 * Rows being added: which row of the columns each holds (-1 for a gap row), whose lane it
 * is, and its window's length in seconds (what per-window counts are divided by).
 */
interface NewRows {
  first: number;
  sample: number[];
  lane: number[];
  seconds: number[];
  /** Whether the row's sample has any stage timing (a window without one is a gap in the stack). */
  staged: boolean[];
  /** The rows are every row of the columns, in order, in one lane, from the timeline's start. */
  whole: boolean;
}

/**
 * Append rows to the timeline: one per sample, and a gap row before a sample that starts
 * a new session in its lane. Every timeline is built this way: from scratch by
 * `buildTimeline`, or a few rows at a time by `TimelineBuilder.append`. The rows are in
 * time order and fit the lanes (see `TimelineBuilder.fits`).
 */
function appendRows(tl: Timeline, cols: SampleColumns, laneOf: ReadonlyMap<number, number>): void {
  const count = rowCount(cols);
  const rows: NewRows = { first: tl.x.length, sample: [], lane: [], seconds: [], staged: [], whole: false };
  const staged = new Array<boolean>(count).fill(false);
  for (const st of cols.stages) {
    const p50 = st.p50_us;
    for (let i = 0; i < count; i++) if (p50[i] !== null) staged[i] = true;
  }
  for (let i = 0; i < count; i++) {
    const session = cols.session_id[i];
    const tMs = cols.t_ms[i];
    const l = laneOf.get(session) ?? 0;
    const lane = tl.lanes[l];
    const x = tMs / 1000;
    if (lane.lastSession !== session) {
      if (lane.lastSession !== null) {
        const lastX = tl.x.length > 0 ? tl.x[tl.x.length - 1] : 0;
        tl.x.push(Math.max(lastX, x - GAP_BEFORE_S));
        rows.sample.push(-1);
        rows.lane.push(l);
        rows.seconds.push(FIRST_WINDOW_S);
        rows.staged.push(false);
      }
      lane.sessions.push(session);
      lane.lastSession = session;
      lane.lastMs = null;
    }
    const seconds = lane.lastMs === null ? 0 : (tMs - lane.lastMs) / 1000;
    lane.lastMs = tMs;
    tl.x.push(x);
    rows.sample.push(i);
    rows.lane.push(l);
    rows.seconds.push(seconds > 0 ? seconds : FIRST_WINDOW_S);
    rows.staged.push(staged[i]);
  }
  if (tl.budgetMs !== null) for (let r = 0; r < rows.sample.length; r++) tl.budget.push(tl.budgetMs);
  rows.whole = rows.first === 0 && tl.lanes.length === 1 && rows.sample.length === count;
  tl.sampleCount += count;
  for (let l = 0; l < tl.lanes.length; l++) fillLane(tl.lanes[l], l, cols, rows);
}

/** Past this many new rows a column is sized in one step before its cells are written. */
const PRESIZE_ROWS = 16;

/**
 * Make room for a column's new cells. Many rows (a recording): size the column once,
 * which is what keeps building 5400 windows as fast as filling preallocated arrays; a few
 * rows (a live poll): the writes at the end grow it.
 */
function grown(col: Column, length: number): Column {
  if (length - col.length > PRESIZE_ROWS) col.length = length;
  return col;
}

const NO_CELLS: Cells = [];

/**
 * One lane's cells of the new rows, column by column: its own rows hold values (null for
 * unmeasured and for a gap row), other lanes' rows are undefined.
 */
function fillLane(lane: Lane, l: number, cols: SampleColumns, rows: NewRows): void {
  const n = rows.sample.length;
  const first = rows.first;
  const end = first + n;
  const { sample, lane: laneOfRow, seconds } = rows;
  for (const def of SERIES_DEFS) {
    const src = cols.fields[def.field];
    const { factor, perSecond } = def;
    if (rows.whole && (src === undefined || (factor === 1 && !perSecond))) {
      // A recording of one lane (the common case): whole columns in one native step each.
      lane.cols[def.key] = src === undefined ? new Array<Cell>(n).fill(null) : src.slice();
      if (src !== undefined && src.some(isMeasured)) lane.present.add(def.key);
      continue;
    }
    const col = grown(lane.cols[def.key], end);
    if (src === undefined) {
      for (let r = 0; r < n; r++) col[first + r] = laneOfRow[r] === l ? null : undefined;
      continue;
    }
    let measured = false;
    for (let r = 0; r < n; r++) {
      if (laneOfRow[r] !== l) {
        col[first + r] = undefined;
        continue;
      }
      const si = sample[r];
      const raw = si < 0 ? null : src[si];
      if (raw === null || raw === undefined) {
        col[first + r] = null;
      } else {
        const value = factor === 1 ? raw : raw * factor;
        col[first + r] = perSecond ? value / seconds[r] : value;
        measured = true;
      }
    }
    if (measured) lane.present.add(def.key);
  }
  const k = lane.stages.length;
  const { p50, p99, stack50, stack99 } = lane;
  const byName = new Map(cols.stages.map((st) => [st.name, st]));
  const src50 = lane.stages.map((name) => byName.get(name)?.p50_us ?? NO_CELLS);
  const src99 = lane.stages.map((name) => byName.get(name)?.p99_us ?? NO_CELLS);
  for (let j = 0; j < k; j++) {
    grown(p50[j], end);
    grown(p99[j], end);
    grown(stack50[j], end);
    grown(stack99[j], end);
  }
  for (let r = 0; r < n; r++) {
    const at = first + r;
    const si = sample[r];
    if (laneOfRow[r] !== l || si < 0) {
      const cell = laneOfRow[r] !== l ? undefined : null;
      for (let j = 0; j < k; j++) p50[j][at] = p99[j][at] = stack50[j][at] = stack99[j][at] = cell;
      continue;
    }
    // A stage missing from this window adds nothing to the stack; a window without any
    // stage timing is a gap.
    const measured = rows.staged[r];
    let sum50 = 0;
    let sum99 = 0;
    for (let j = 0; j < k; j++) {
      const raw50 = src50[j][si];
      const raw99 = src99[j][si];
      if (raw50 === null || raw50 === undefined || raw99 === null || raw99 === undefined) {
        p50[j][at] = null;
        p99[j][at] = null;
      } else {
        const v50 = raw50 / 1000;
        const v99 = raw99 / 1000;
        sum50 += v50;
        sum99 += v99;
        p50[j][at] = v50;
        p99[j][at] = v99;
      }
      stack50[j][at] = measured ? sum50 : null;
      stack99[j][at] = measured ? sum99 : null;
    }
  }
}

/** Whether a sample would change its lane's structure: a new stage or a newly measured series. */
function addsStructure(lane: Lane, s: StatsSample): boolean {
  if (!coversStages(lane.stages, s.stages)) return true;
  for (const def of SERIES_DEFS) {
    if (!lane.present.has(def.key)) {
      const raw = s[def.field];
      if (raw !== null && raw !== undefined) return true;
    }
  }
  return false;
}

function coversStages(known: readonly string[], stages: readonly StageTiming[]): boolean {
  for (let i = 0; i < stages.length; i++) {
    if (known[i] !== stages[i].name && !known.includes(stages[i].name)) return false;
  }
  return true;
}

/** Each lane's stages in pipeline order, merged over the lane's rows. */
function laneStages(cols: SampleColumns, laneOf: ReadonlyMap<number, number>, laneCount: number): string[][] {
  const stages: string[][] = Array.from({ length: laneCount }, () => []);
  const lastKey: (number | string | null)[] = Array.from({ length: laneCount }, () => null);
  const n = rowCount(cols);
  for (let i = 0; i < n; i++) {
    const l = laneOf.get(cols.session_id[i]) ?? 0;
    // Windows of a session list the same stages: merge only when the list changes.
    const key = stageKeyAt(cols, i);
    if (key !== lastKey[l]) {
      stages[l] = mergeStageOrder(stages[l], stageNamesAt(cols, i)) ?? stages[l];
      lastKey[l] = key;
    }
  }
  return stages;
}

function laneCountOf(laneOf: ReadonlyMap<number, number>): number {
  let count = 0;
  for (const lane of laneOf.values()) count = Math.max(count, lane + 1);
  return count;
}

function isSorted(samples: readonly StatsSample[]): boolean {
  for (let i = 1; i < samples.length; i++) {
    if (samples[i].t_ms < samples[i - 1].t_ms) return false;
  }
  return true;
}

export function frameBudgetMs(fps: number): number | null {
  return fps > 0 && Number.isFinite(fps) ? 1000 / fps : null;
}

/**
 * Build a timeline from scratch: lay the lanes out (which session goes where, each lane's
 * stages), then append every row as a live capture would.
 */
export function timelineOfColumns(input: SampleColumns, budgetMs: number | null = null): Timeline {
  const cols = sortedByTime(input);
  const spans = new Map<number, SessionSpan>();
  const n = rowCount(cols);
  for (let i = 0; i < n; i++) extendSpans(spans, cols.session_id[i], cols.t_ms[i]);
  const laneOf = assignLanes([...spans.values()]);
  const tl: Timeline = {
    x: [],
    lanes: laneStages(cols, laneOf, laneCountOf(laneOf)).map(emptyLane),
    budget: [],
    budgetMs,
    sampleCount: 0,
    sessionCount: spans.size,
  };
  appendRows(tl, cols, laneOf);
  return tl;
}

/** `timelineOfColumns` of samples (live captures, tests). */
export function buildTimeline(samples: readonly StatsSample[], budgetMs: number | null = null): Timeline {
  return timelineOfColumns(columnsOf(samples), budgetMs);
}

export type AppendResult = "unchanged" | "appended" | "rebuilt";

/**
 * Holds the samples of a growing capture and its timeline. `append` grows the timeline's
 * columns in place when it can ("appended": the same arrays, longer) and rebuilds it
 * otherwise ("rebuilt": new arrays, a different set of series).
 */
export class TimelineBuilder {
  private readonly samples: StatsSample[] = [];
  private readonly spans = new Map<number, SessionSpan>();
  private laneOf: ReadonlyMap<number, number> = new Map();
  private lastMs = Number.NEGATIVE_INFINITY;
  timeline: Timeline;

  constructor(private readonly budgetMs: number | null = null) {
    this.timeline = buildTimeline([], budgetMs);
  }

  get count(): number {
    return this.samples.length;
  }

  samplesSoFar(): readonly StatsSample[] {
    return this.samples;
  }

  append(batch: readonly StatsSample[]): AppendResult {
    if (batch.length === 0) return "unchanged";
    const lastMs = this.lastMs;
    for (const s of batch) {
      this.samples.push(s);
      extendSpans(this.spans, s.session_id, s.t_ms);
      this.lastMs = Math.max(this.lastMs, s.t_ms);
    }
    const laneOf = assignLanes([...this.spans.values()]);
    const fits = this.fits(batch, lastMs, laneOf);
    this.laneOf = laneOf;
    if (fits) {
      appendRows(this.timeline, columnsOf(batch), laneOf);
      this.timeline.sessionCount = this.spans.size;
      return "appended";
    }
    this.timeline = buildTimeline(this.samples, this.budgetMs);
    return "rebuilt";
  }

  /**
   * Whether `batch` can be appended as rows: it comes after every sample so far, no
   * session changes lane, no lane is added, and no sample brings a new stage or a newly
   * measured series to its lane. Then appending gives what building from scratch would.
   */
  private fits(batch: readonly StatsSample[], lastMs: number, laneOf: ReadonlyMap<number, number>): boolean {
    const tl = this.timeline;
    if (tl.sampleCount === 0) return false;
    if (!isSorted(batch) || batch[0].t_ms < lastMs) return false;
    for (const [id, lane] of this.laneOf) {
      if (laneOf.get(id) !== lane) return false;
    }
    if (laneCountOf(laneOf) > tl.lanes.length) return false;
    for (const s of batch) {
      if (addsStructure(tl.lanes[laneOf.get(s.session_id) ?? 0], s)) return false;
    }
    return true;
  }
}
