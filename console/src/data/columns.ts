/**
 * A recording column by column: row i is sample i. This is the host's columnar form of a
 * recording (`GET …/recordings/{id}/columns`, without its meta), and the one input the
 * chart data is built from (timeline.ts, sessions.ts): a saved recording arrives in it,
 * live samples are turned into it a poll at a time (`columnsOf`).
 *
 * A stage column holds `null` where that sample has no such stage (a stage timing itself
 * is never null); a field column holds `null` where the sample has no value, and a field
 * without a column was never measured in any sample.
 */
import { SAMPLE_FIELDS } from "../api/stages.gen";
import type { Capture, CaptureColumns, StatsSample } from "../api/types";
import { mergeStageLists } from "./stages";

export type Cells = (number | null)[];

/** Every numeric sample field that a column can hold (all but time, session and stages). */
export type FieldName = Exclude<
  {
    [K in keyof StatsSample]-?: StatsSample[K] extends number | null | undefined ? K : never;
  }[keyof StatsSample],
  "t_ms" | "session_id"
>;

export interface StageColumn {
  name: string;
  p50_us: Cells;
  p99_us: Cells;
}

/** `CaptureColumns` without its meta (a `CaptureColumns` is one). */
export interface SampleColumns {
  t_ms: number[];
  session_id: number[];
  /** Stages in pipeline order; a sample's stages are the ones not null in its row. */
  stages: StageColumn[];
  /** By sample field name (`FieldName`); a field without a column was never measured. */
  fields: { [field: string]: Cells | undefined };
}

/** The fields a sample may carry, in the host's order (generated from its schema). */
const FIELD_NAMES: readonly FieldName[] = SAMPLE_FIELDS;
// Every numeric sample field has a column: fails to compile when the schema gains one
// that SAMPLE_FIELDS (a stale generated file) lacks.
const EVERY_FIELD: Exclude<FieldName, (typeof SAMPLE_FIELDS)[number]> extends never ? true : never = true;
void EVERY_FIELD;

export const EMPTY_COLUMNS: SampleColumns = { t_ms: [], session_id: [], stages: [], fields: {} };

export function rowCount(cols: SampleColumns): number {
  return cols.t_ms.length;
}

/** The same samples column by column (what a live poll brings is turned into this). */
export function columnsOf(samples: readonly StatsSample[]): Omit<CaptureColumns, "meta"> {
  const n = samples.length;
  const names = mergeStageLists(distinctStageLists(samples));
  const index = new Map(names.map((name, j) => [name, j]));
  const p50: (number | null)[][] = names.map(() => new Array<number | null>(n).fill(null));
  const p99: (number | null)[][] = names.map(() => new Array<number | null>(n).fill(null));
  const t: number[] = new Array<number>(n);
  const session: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const s = samples[i];
    t[i] = s.t_ms;
    session[i] = s.session_id;
    for (const st of s.stages) {
      const j = index.get(st.name);
      if (j === undefined) continue;
      p50[j][i] = st.p50_us;
      p99[j][i] = st.p99_us;
    }
  }
  const fields: Record<string, Cells> = {};
  for (const field of FIELD_NAMES) {
    let measured = false;
    const col = new Array<number | null>(n);
    for (let i = 0; i < n; i++) {
      const v = samples[i][field];
      if (v === null || v === undefined) {
        col[i] = null;
      } else {
        col[i] = v;
        measured = true;
      }
    }
    if (measured) fields[field] = col;
  }
  return {
    t_ms: t,
    session_id: session,
    stages: names.map((name, j) => ({ name, p50_us: p50[j], p99_us: p99[j] })),
    fields,
  };
}

function* distinctStageLists(samples: readonly StatsSample[]): Generator<string[]> {
  let previous: string | null = null;
  for (const s of samples) {
    const key = s.stages.map((st) => st.name).join("\u0000");
    if (key !== previous) yield s.stages.map((st) => st.name);
    previous = key;
  }
}

function isAscending(t: readonly number[]): boolean {
  for (let i = 1; i < t.length; i++) if (t[i] < t[i - 1]) return false;
  return true;
}

/** The rows in time order (a stable sort by t_ms); the same object when they already are. */
export function sortedByTime(cols: SampleColumns): SampleColumns {
  if (isAscending(cols.t_ms)) return cols;
  const order = Array.from(cols.t_ms, (_, i) => i).sort((a, b) => cols.t_ms[a] - cols.t_ms[b] || a - b);
  const pick = <T>(col: readonly T[]): T[] => order.map((i) => col[i]);
  const fields: Record<string, Cells> = {};
  for (const [name, col] of Object.entries(cols.fields)) if (col !== undefined) fields[name] = pick(col);
  return {
    t_ms: pick(cols.t_ms),
    session_id: pick(cols.session_id),
    stages: cols.stages.map((st) => ({ name: st.name, p50_us: pick(st.p50_us), p99_us: pick(st.p99_us) })),
    fields,
  };
}

/**
 * Row `i`'s stages as a bit set over `cols.stages` (bit j: stage j is present), for
 * recordings with up to 31 stage columns; a longer list (never written by this host) gets
 * the names joined instead. Equal keys mean equal stage lists.
 */
export function stageKeyAt(cols: SampleColumns, i: number): number | string {
  const stages = cols.stages;
  if (stages.length <= 31) {
    let key = 0;
    for (let j = 0; j < stages.length; j++) if (stages[j].p50_us[i] !== null) key |= 1 << j;
    return key;
  }
  return stageNamesAt(cols, i).join("\u0000");
}

export function stageNamesAt(cols: SampleColumns, i: number): string[] {
  const names: string[] = [];
  for (const st of cols.stages) if (st.p50_us[i] !== null) names.push(st.name);
  return names;
}

/** A saved recording as the host's `/columns` would send it (views rendered from fixtures). */
export function captureColumns(capture: Capture): CaptureColumns {
  return { meta: capture.meta, ...columnsOf(capture.samples) };
}

/** Whether a stage or field column's cell is a value (not null, not missing). */
export function isMeasured(v: number | null | undefined): v is number {
  return v !== null && v !== undefined;
}
