/**
 * Sessions within one capture. Several sessions can record into one capture, one after
 * the other (a reconnect) or at the same time (two clients). Their samples must never be
 * joined into one line, so each session is put in a *lane*: sessions that overlap in time
 * get different lanes (separate series), sessions that follow each other share a lane
 * with a gap between them. The number of lanes is the most sessions ever running at once.
 */

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
