/**
 * One recording boiled down to the numbers an operator compares: per stage the latency
 * over the whole recording, mean frame rate and goodput, and drop totals.
 *
 * A sample holds window percentiles, not the frames themselves, so "p50 over the
 * recording" is the median of the windows' p50 (and likewise p99): robust against a
 * few odd windows, and the same definition for every recording compared.
 */
import type { Capture, StatsSample } from "../api/types";
import { mergeStageLists } from "./stages";

export interface StageSummary {
  name: string;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface RecordingSummary {
  id: string;
  sampleCount: number;
  durationMs: number;
  stages: StageSummary[];
  /** Median over windows of the sum of the stage latencies. */
  stagesTotalP50Ms: number | null;
  stagesTotalP99Ms: number | null;
  /** Median of the host's own capture → last-datagram latency, when measured. */
  hostP50Ms: number | null;
  hostP99Ms: number | null;
  meanFps: number | null;
  meanRepeatFps: number | null;
  meanMbps: number | null;
  /** Sums over the recording; null when the path never measured the counter. */
  framesDropped: number | null;
  packetsDropped: number | null;
  sendDropped: number | null;
  fecRecovered: number | null;
}

/** The median of the finite numbers in `values` (null when there are none). */
export function median(values: readonly number[]): number | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = Float64Array.from(finite).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function mean(values: readonly number[]): number | null {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n === 0 ? null : sum / n;
}

type CountField = "frames_dropped" | "packets_dropped" | "send_dropped" | "fec_recovered";

/** Sum of a counter; null when no window measured it (null is "unmeasured", 0 is "none"). */
export function total(samples: readonly StatsSample[], field: CountField): number | null {
  let sum: number | null = null;
  for (const s of samples) {
    const v = s[field];
    if (v !== null && v !== undefined) sum = (sum ?? 0) + v;
  }
  return sum;
}

function optionalMedian(samples: readonly StatsSample[], field: "host_p50_us" | "host_p99_us"): number | null {
  const values: number[] = [];
  for (const s of samples) {
    const v = s[field];
    if (v !== null && v !== undefined) values.push(v / 1000);
  }
  return median(values);
}

/** The stages of a recording, in pipeline order. */
export function stageOrder(samples: readonly StatsSample[]): string[] {
  return mergeStageLists(samples.map((s) => s.stages.map((st) => st.name)));
}

export function summarize(capture: Capture): RecordingSummary {
  const samples = capture.samples;
  const names = stageOrder(samples);
  const p50: number[][] = names.map(() => []);
  const p99: number[][] = names.map(() => []);
  const totals50: number[] = [];
  const totals99: number[] = [];
  for (const s of samples) {
    if (s.stages.length === 0) continue;
    let t50 = 0;
    let t99 = 0;
    for (const st of s.stages) {
      const i = names.indexOf(st.name);
      p50[i].push(st.p50_us / 1000);
      p99[i].push(st.p99_us / 1000);
      t50 += st.p50_us / 1000;
      t99 += st.p99_us / 1000;
    }
    totals50.push(t50);
    totals99.push(t99);
  }
  return {
    id: capture.meta.id,
    sampleCount: samples.length,
    durationMs: capture.meta.duration_ms,
    stages: names.map((name, i) => ({ name, p50Ms: median(p50[i]), p99Ms: median(p99[i]) })),
    stagesTotalP50Ms: median(totals50),
    stagesTotalP99Ms: median(totals99),
    hostP50Ms: optionalMedian(samples, "host_p50_us"),
    hostP99Ms: optionalMedian(samples, "host_p99_us"),
    meanFps: mean(samples.map((s) => s.fps)),
    meanRepeatFps: mean(samples.map((s) => s.repeat_fps)),
    meanMbps: mean(samples.map((s) => s.mbps)),
    framesDropped: total(samples, "frames_dropped"),
    packetsDropped: total(samples, "packets_dropped"),
    sendDropped: total(samples, "send_dropped"),
    fecRecovered: total(samples, "fec_recovered"),
  };
}
