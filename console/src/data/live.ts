/**
 * Incremental polling of the capture in progress: ask for `offset = samples we have`,
 * and recognise a different capture (its `started_unix_ms` changed) to start over.
 */
import type { Capture, StatsSample } from "../api/types";

export interface LiveCursor {
  /** started_unix_ms of the capture the samples belong to; null before the first poll. */
  startedUnixMs: number | null;
  /** Samples received so far (the next poll's offset). */
  received: number;
}

export const EMPTY_CURSOR: LiveCursor = { startedUnixMs: null, received: 0 };

export type LiveStep =
  | { kind: "append"; samples: StatsSample[]; cursor: LiveCursor }
  | { kind: "reset"; samples: StatsSample[]; cursor: LiveCursor }
  /** A new capture, but we asked with an old offset: poll again from 0. */
  | { kind: "refetch"; cursor: LiveCursor };

/** What to do with a live response that was requested with `offset = cursor.received`. */
export function liveStep(cursor: LiveCursor, response: Capture): LiveStep {
  const started = response.meta.started_unix_ms;
  const sameCapture = cursor.startedUnixMs === started;
  // The host keeps every sample of a capture, so a total below what we hold means the
  // samples we hold belong to another capture, even with an equal start time.
  const consistent = response.meta.sample_count >= cursor.received;
  if (sameCapture && consistent) {
    return {
      kind: "append",
      samples: response.samples,
      cursor: { startedUnixMs: started, received: cursor.received + response.samples.length },
    };
  }
  if (cursor.received === 0) {
    return {
      kind: "reset",
      samples: response.samples,
      cursor: { startedUnixMs: started, received: response.samples.length },
    };
  }
  return { kind: "refetch", cursor: { startedUnixMs: started, received: 0 } };
}
