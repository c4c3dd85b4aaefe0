/**
 * Sessions within one capture, and the path each took. Several sessions can record into
 * one capture, one after the other (a reconnect) or at the same time (two clients). Their
 * samples must never be joined into one line, so each session is put in a *lane*:
 * sessions that overlap in time get different lanes (separate series), sessions that
 * follow each other share a lane with a gap between them. The number of lanes is the most
 * sessions ever running at once.
 */
import { STAGE_SETS, type PathKind } from "../api/stages.gen";
import type { StatsSample } from "../api/types";
import { columnsOf, type FieldName, rowCount, type SampleColumns, stageKeyAt, stageNamesAt } from "./columns";

export interface SessionSpan {
  id: number;
  firstMs: number;
  lastMs: number;
}

/** Each session's first and last sample time, in first-seen order. */
export function sessionSpans(samples: readonly { session_id: number; t_ms: number }[]): SessionSpan[] {
  const byId = new Map<number, SessionSpan>();
  for (const s of samples) {
    extendSpans(byId, s.session_id, s.t_ms);
  }
  return [...byId.values()];
}

export function extendSpans(byId: Map<number, SessionSpan>, id: number, tMs: number): void {
  const span = byId.get(id);
  if (span === undefined) {
    byId.set(id, { id, firstMs: tMs, lastMs: tMs });
  } else {
    if (tMs < span.firstMs) span.firstMs = tMs;
    if (tMs > span.lastMs) span.lastMs = tMs;
  }
}

/**
 * Lane per session id: greedy interval colouring by start time (optimal for intervals):
 * a session takes the lowest lane whose last session ended before it started.
 */
export function assignLanes(spans: readonly SessionSpan[]): Map<number, number> {
  const ordered = [...spans].sort((a, b) => a.firstMs - b.firstMs || a.id - b.id);
  const laneEnds: number[] = [];
  const lanes = new Map<number, number>();
  for (const span of ordered) {
    let lane = laneEnds.findIndex((end) => end < span.firstMs);
    if (lane < 0) {
      lane = laneEnds.length;
      laneEnds.push(span.lastMs);
    } else {
      laneEnds[lane] = span.lastMs;
    }
    lanes.set(span.id, lane);
  }
  return lanes;
}

// -- which path each session took --------------------------------------------------------

/**
 * The streaming path whose declared stages (STAGE_SETS, from the host) include every one
 * of `stages`, when exactly one path does; null when none or several could have them.
 */
export function pathOfStages(stages: ReadonlySet<string>): PathKind | null {
  let found: PathKind | null = null;
  for (const kind of Object.keys(STAGE_SETS) as PathKind[]) {
    const declared: readonly string[] = STAGE_SETS[kind];
    let all = true;
    for (const name of stages) {
      if (!declared.includes(name)) {
        all = false;
        break;
      }
    }
    if (!all) continue;
    if (found !== null) return null;
    found = kind;
  }
  return found;
}

export interface SessionInfo {
  id: number;
  /** Its streaming path; null when its samples do not tell (e.g. no stage timings). */
  kind: PathKind | null;
  /** At least one window has a round-trip time. */
  measuresRtt: boolean;
  /** At least one window counted sound or input (audio packets, their encode time, input events). */
  measuresSoundInput: boolean;
}

const SOUND_INPUT_FIELDS = ["audio_packets", "audio_encode_p50_us", "audio_encode_p99_us", "input_events"] as const;

function isPathKind(kind: string): kind is PathKind {
  return Object.hasOwn(STAGE_SETS, kind);
}

/**
 * Every session of a capture in first-seen order, with its path and whether its RTT was
 * measured. A sample does not name its path: the stage names it carries do (each path has
 * stages the other lacks). The capture's own `kind` names its first session's path, which
 * settles a first session whose stages alone do not.
 */
export function describeSessionColumns(cols: SampleColumns, captureKind = ""): SessionInfo[] {
  const stages = new Map<number, Set<string>>();
  const rtt = new Set<number>();
  const soundInput = new Set<number>();
  const n = rowCount(cols);
  let lastSession: number | null = null;
  let lastKey: number | string | null = null;
  for (let i = 0; i < n; i++) {
    const id = cols.session_id[i];
    let names = stages.get(id);
    if (names === undefined) {
      names = new Set();
      stages.set(id, names);
    }
    // Windows of a session list the same stages: look at the names only when they change.
    const key = stageKeyAt(cols, i);
    if (id !== lastSession || key !== lastKey) for (const name of stageNamesAt(cols, i)) names.add(name);
    lastSession = id;
    lastKey = key;
  }
  const anyAt = (field: FieldName, into: Set<number>) => {
    const col = cols.fields[field];
    if (col !== undefined) for (let i = 0; i < n; i++) if (col[i] !== null) into.add(cols.session_id[i]);
  };
  anyAt("rtt_us", rtt);
  for (const field of SOUND_INPUT_FIELDS) anyAt(field, soundInput);
  const first = stages.keys().next();
  return [...stages].map(([id, names]) => {
    let kind = names.size > 0 ? pathOfStages(names) : null;
    if (kind === null && !first.done && id === first.value && isPathKind(captureKind)) kind = captureKind;
    return { id, kind, measuresRtt: rtt.has(id), measuresSoundInput: soundInput.has(id) };
  });
}

/** `describeSessionColumns` of samples. */
export function describeSessions(samples: readonly StatsSample[], captureKind = ""): SessionInfo[] {
  return describeSessionColumns(columnsOf(samples), captureKind);
}
