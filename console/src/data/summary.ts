/**
 * A recording's summary as the host computes it (`GET …/summary`, the figures of
 * `punktfunk stats show`), turned into what the summary table shows: milliseconds from
 * microseconds, which counters to list and how, the bitrate against its target. The
 * figures themselves are the host's; nothing here recomputes them.
 */
import type { StatsSample } from "../api/types";
import type { CounterTotal, RecordingSummary } from "../api/types";
import { mergeStageLists } from "./stages";

/** The stages of a recording, in pipeline order. */
export function stageOrder(samples: readonly StatsSample[]): string[] {
  return mergeStageLists(samples.map((s) => s.stages.map((st) => st.name)));
}

export function msFromUs(us: number): number {
  return us / 1000;
}

/** Counters only some paths have: listed only where some window measured them (as the CLI does). */
const OPTIONAL_COUNTERS: ReadonlySet<string> = new Set(["audio_packets", "input_events"]);

/** The counters the table lists, in the host's order. */
export function shownCounters(summary: Pick<RecordingSummary, "counters">): CounterTotal[] {
  return summary.counters.filter((c) => c.total !== null || !OPTIONAL_COUNTERS.has(c.name));
}

/** How a counter reads: never measured ("n/a"), a total, or a total over some windows only. */
export type CounterReading =
  | { kind: "unmeasured" }
  | { kind: "total"; total: number }
  | { kind: "partial"; total: number; measured: number; windows: number };

export function readCounter(counter: CounterTotal): CounterReading {
  if (counter.total === null) return { kind: "unmeasured" };
  if (counter.measured < counter.windows) return { kind: "partial", total: counter.total, measured: counter.measured, windows: counter.windows };
  return { kind: "total", total: counter.total };
}

/** Mean bitrate as a share of the mean target, in percent; null when either is unknown or the target 0. */
export function ofTarget(mbps: number | null, target: number | null): number | null {
  return mbps === null || target === null || target === 0 ? null : (100 * mbps) / target;
}
