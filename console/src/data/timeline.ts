/**
 * Samples → columnar chart data (what uPlot draws), built once and appended to in place.
 *
 * A `Timeline` has one shared x axis (seconds since the capture started) and, per lane
 * (see sessions.ts), one column per plotted quantity. uPlot's conventions carry the
 * meaning: `undefined` = "this lane has no sample at this x" (the line continues across
 * it), `null` = a gap (the line breaks): a value that was not measured, or the border
 * between two sessions sharing a lane. Latencies are converted to milliseconds here.
 *
 * Live capture appends new samples with `TimelineBuilder.append`; as long as the set of
 * series stays the same (no new lane, stage or measured field) the columns grow in place
 * and a chart only needs `setData` on the same arrays. Otherwise the timeline is rebuilt
 * and `append` says so, so that charts are recreated.
 */
import type { StageTiming, StatsSample } from "../api/types";
import { assignLanes, extendSpans, type SessionSpan } from "./sessions";
import { mergeStageOrder } from "./stages";

export type Cell = number | null | undefined;
export type Column = Cell[];

type NumericField = Exclude<
  {
    [K in keyof StatsSample]-?: StatsSample[K] extends number | null | undefined ? K : never;
  }[keyof StatsSample],
  "t_ms" | "session_id"
>;

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
} as const satisfies Record<string, { field: NumericField; factor: number }>;

export type SeriesKey = keyof typeof SERIES;
export const SERIES_KEYS = Object.keys(SERIES) as SeriesKey[];
const SERIES_DEFS: readonly { key: SeriesKey; field: NumericField; factor: number }[] =
  SERIES_KEYS.map((key) => ({ key, field: SERIES[key].field, factor: SERIES[key].factor }));

export type Percentile = "p50" | "p99";

export interface Lane {
  /** Session ids in this lane, in time order. */
  sessions: number[];
  /** Stage names in pipeline order (the stacking order), derived from the samples. */
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

function emptyLane(stages: string[], present: Set<SeriesKey>): Lane {
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
    present,
    lastSession: null,
  };
}

function pushAll(lane: Lane, value: null | undefined): void {
  for (let i = 0; i < lane.stages.length; i++) {
    lane.p50[i].push(value);
    lane.p99[i].push(value);
    lane.stack50[i].push(value);
    lane.stack99[i].push(value);
  }
  for (const def of SERIES_DEFS) lane.cols[def.key].push(value);
}

function pushSample(lane: Lane, s: StatsSample): void {
  const stages = s.stages;
  let sum50 = 0;
  let sum99 = 0;
  const measured = stages.length > 0;
  for (let i = 0; i < lane.stages.length; i++) {
    const found = findStage(stages, lane.stages[i], i);
    if (found === null) {
      lane.p50[i].push(null);
      lane.p99[i].push(null);
    } else {
      const v50 = found.p50_us / 1000;
      const v99 = found.p99_us / 1000;
      sum50 += v50;
      sum99 += v99;
      lane.p50[i].push(v50);
      lane.p99[i].push(v99);
    }
    // A stage missing from this window adds nothing to the stack; a window without
    // any stage timing is a gap.
    lane.stack50[i].push(measured ? sum50 : null);
    lane.stack99[i].push(measured ? sum99 : null);
  }
  for (const def of SERIES_DEFS) {
    const raw = s[def.field];
    lane.cols[def.key].push(raw === null || raw === undefined ? null : raw * def.factor);
  }
}

function pushRow(tl: Timeline, laneIndex: number, s: StatsSample): void {
  const lane = tl.lanes[laneIndex];
  const x = s.t_ms / 1000;
  if (lane.lastSession !== null && lane.lastSession !== s.session_id) {
    const lastX = tl.x.length > 0 ? tl.x[tl.x.length - 1] : 0;
    tl.x.push(Math.max(lastX, x - GAP_BEFORE_S));
    if (tl.budgetMs !== null) tl.budget.push(tl.budgetMs);
    for (let l = 0; l < tl.lanes.length; l++) pushAll(tl.lanes[l], l === laneIndex ? null : undefined);
  }
  if (lane.lastSession !== s.session_id) lane.sessions.push(s.session_id);
  lane.lastSession = s.session_id;
  tl.x.push(x);
  if (tl.budgetMs !== null) tl.budget.push(tl.budgetMs);
  for (let l = 0; l < tl.lanes.length; l++) {
    if (l === laneIndex) pushSample(lane, s);
    else pushAll(tl.lanes[l], undefined);
  }
  tl.sampleCount++;
}

/** What a sample adds to a lane's structure: new stages, newly measured series. */
function growStructure(stages: string[], present: Set<SeriesKey>, s: StatsSample): {
  stages: string[];
  changed: boolean;
} {
  let changed = false;
  const merged = mergeStageOrder(stages, s.stages.map((st) => st.name));
  if (merged !== null) {
    stages = merged;
    changed = true;
  }
  for (const def of SERIES_DEFS) {
    if (!present.has(def.key)) {
      const raw = s[def.field];
      if (raw !== null && raw !== undefined) {
        present.add(def.key);
        changed = true;
      }
    }
  }
  return { stages, changed };
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

/** Build a timeline from scratch: column by column into preallocated arrays. */
export function buildTimeline(input: readonly StatsSample[], budgetMs: number | null = null): Timeline {
  const samples = isSorted(input) ? input : [...input].sort((a, b) => a.t_ms - b.t_ms);
  const n = samples.length;
  const spans = new Map<number, SessionSpan>();
  for (let i = 0; i < n; i++) extendSpans(spans, samples[i].session_id, samples[i].t_ms);
  const laneOf = assignLanes([...spans.values()]);
  const laneCount = Math.max(0, ...laneOf.values()) + (laneOf.size > 0 ? 1 : 0);

  // Structure, and the rows: one per sample plus a gap row wherever a lane changes session.
  const stagesByLane: string[][] = Array.from({ length: laneCount }, () => []);
  const presentByLane: Set<SeriesKey>[] = Array.from({ length: laneCount }, () => new Set());
  const lastNames: (readonly StageTiming[] | null)[] = Array.from({ length: laneCount }, () => null);
  const lastSession: (number | null)[] = Array.from({ length: laneCount }, () => null);
  const sessionsByLane: number[][] = Array.from({ length: laneCount }, () => []);
  const x: number[] = [];
  const rowSample: number[] = []; // sample index, or -1 for a gap row
  const rowLane: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = samples[i];
    const l = laneOf.get(s.session_id) ?? 0;
    // Measured series are found while filling the columns; here only the stage order.
    if (lastNames[l] === null || !sameStageNames(lastNames[l], s.stages)) {
      stagesByLane[l] = mergeStageOrder(stagesByLane[l], s.stages.map((st) => st.name)) ?? stagesByLane[l];
      lastNames[l] = s.stages;
    }
    const t = s.t_ms / 1000;
    if (lastSession[l] !== null && lastSession[l] !== s.session_id) {
      x.push(Math.max(x.length > 0 ? x[x.length - 1] : 0, t - GAP_BEFORE_S));
      rowSample.push(-1);
      rowLane.push(l);
    }
    if (lastSession[l] !== s.session_id) sessionsByLane[l].push(s.session_id);
    lastSession[l] = s.session_id;
    x.push(t);
    rowSample.push(i);
    rowLane.push(l);
  }
  const rows = x.length;
  const column = (): Column => new Array<Cell>(rows).fill(undefined);

  const lanes: Lane[] = stagesByLane.map((stages, l) => {
    const lane = emptyLane(stages, presentByLane[l]);
    lane.sessions = sessionsByLane[l];
    lane.lastSession = lastSession[l];
    return lane;
  });
  for (let l = 0; l < laneCount; l++) {
    const lane = lanes[l];
    const own: number[] = [];
    for (let r = 0; r < rows; r++) if (rowLane[r] === l) own.push(r);
    for (const def of SERIES_DEFS) {
      const col = column();
      const { field, factor } = def;
      let measured = false;
      for (const r of own) {
        const si = rowSample[r];
        if (si < 0) {
          col[r] = null;
          continue;
        }
        const raw = samples[si][field];
        if (raw === null || raw === undefined) {
          col[r] = null;
        } else {
          col[r] = factor === 1 ? raw : raw * factor;
          measured = true;
        }
      }
      lane.cols[def.key] = col;
      if (measured) lane.present.add(def.key);
    }
    const k = lane.stages.length;
    lane.p50 = lane.stages.map(column);
    lane.p99 = lane.stages.map(column);
    lane.stack50 = lane.stages.map(column);
    lane.stack99 = lane.stages.map(column);
    for (const r of own) {
      const si = rowSample[r];
      if (si < 0) {
        for (let j = 0; j < k; j++) lane.p50[j][r] = lane.p99[j][r] = lane.stack50[j][r] = lane.stack99[j][r] = null;
        continue;
      }
      const stages = samples[si].stages;
      const measured = stages.length > 0;
      let sum50 = 0;
      let sum99 = 0;
      for (let j = 0; j < k; j++) {
        const found = findStage(stages, lane.stages[j], j);
        if (found === null) {
          lane.p50[j][r] = null;
          lane.p99[j][r] = null;
        } else {
          const v50 = found.p50_us / 1000;
          const v99 = found.p99_us / 1000;
          sum50 += v50;
          sum99 += v99;
          lane.p50[j][r] = v50;
          lane.p99[j][r] = v99;
        }
        lane.stack50[j][r] = measured ? sum50 : null;
        lane.stack99[j][r] = measured ? sum99 : null;
      }
    }
  }
  return {
    x,
    lanes,
    budget: budgetMs === null ? [] : new Array<Cell>(rows).fill(budgetMs),
    budgetMs,
    sampleCount: n,
    sessionCount: spans.size,
  };
}

/** The stage called `name`; looked for at `hint` first (stages keep their order). */
function findStage(stages: readonly StageTiming[], name: string, hint: number): StageTiming | null {
  if (hint < stages.length && stages[hint].name === name) return stages[hint];
  for (const st of stages) if (st.name === name) return st;
  return null;
}

function sameStageNames(a: readonly StageTiming[], b: readonly StageTiming[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i].name !== b[i].name) return false;
  return true;
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
  private laneOf = new Map<number, number>();
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
    const lastT = this.samples.length > 0 ? this.samples[this.samples.length - 1].t_ms : 0;
    for (const s of batch) {
      this.samples.push(s);
      extendSpans(this.spans, s.session_id, s.t_ms);
    }
    if (this.canAppend(batch, lastT)) {
      for (const s of batch) pushRow(this.timeline, this.laneOf.get(s.session_id) ?? 0, s);
      this.timeline.sessionCount = this.spans.size;
      return "appended";
    }
    this.timeline = buildTimeline(this.samples, this.budgetMs);
    this.laneOf = assignLanes([...this.spans.values()]);
    return "rebuilt";
  }

  private canAppend(batch: readonly StatsSample[], lastT: number): boolean {
    const tl = this.timeline;
    if (tl.sampleCount === 0) return false;
    if (!isSorted(batch) || batch[0].t_ms < lastT) return false;
    const laneOf = assignLanes([...this.spans.values()]);
    for (const [id, lane] of this.laneOf) {
      if (laneOf.get(id) !== lane) return false;
    }
    for (const lane of laneOf.values()) {
      if (lane >= tl.lanes.length) return false;
    }
    for (const s of batch) {
      const lane = tl.lanes[laneOf.get(s.session_id) ?? 0];
      const probe = new Set(lane.present);
      if (growStructure(lane.stages, probe, s).changed) return false;
    }
    this.laneOf = laneOf;
    return true;
  }
}
