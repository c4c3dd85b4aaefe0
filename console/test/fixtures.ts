/** Realistic samples and captures for unit tests (and for rendering views with fixture data). */
import { STAGE_SETS } from "../src/api/stages.gen";
import type { LatencySummary, RecordingSummary } from "../src/api/types";
import type { Capture, CaptureMeta, StatsSample } from "../src/api/types";

/** Each path's stages, as the host declares them. */
export const NATIVE = STAGE_SETS.native;
export const GAMESTREAM = STAGE_SETS.gamestream;

export function sample(t_ms: number, overrides: Partial<StatsSample> = {}, stages: readonly string[] = NATIVE): StatsSample {
  return {
    t_ms,
    session_id: 1,
    stages: stages.map((name, i) => ({ name, p50_us: 1000 * (i + 1), p99_us: 2000 * (i + 1) })),
    fps: 60,
    repeat_fps: 0,
    mbps: 9.5,
    bitrate_kbps: 10000,
    frames_dropped: 0,
    packets_dropped: null,
    send_dropped: 0,
    fec_recovered: null,
    host_p50_us: 16000,
    host_p99_us: 31000,
    client_decode_us: null,
    rtt_us: null,
    audio_packets: null,
    audio_encode_p50_us: null,
    audio_encode_p99_us: null,
    input_events: null,
    capture_cpu_pct: 20,
    capture_rss_mb: 60,
    send_cpu_pct: 3,
    send_rss_mb: 40,
    gpu_util_pct: null,
    gpu_encoder_util_pct: null,
    gpu_encoder_fps: null,
    gpu_encoder_latency_us: null,
    gpu_graphics_clock_mhz: null,
    gpu_video_clock_mhz: null,
    gpu_power_w: null,
    gpu_memory_used_mb: null,
    ...overrides,
  };
}

export function meta(overrides: Partial<CaptureMeta> = {}): CaptureMeta {
  return {
    id: "2026-06-26T20-14-03Z_1280x720",
    started_unix_ms: Date.UTC(2026, 5, 26, 20, 14, 3),
    duration_ms: 6000,
    kind: "native",
    width: 1280,
    height: 720,
    fps: 60,
    codec: "h264",
    encoder: "libx264",
    client: "demo",
    sample_count: 3,
    truncated: false,
    gpu: "",
    sessions: 1,
    recovered: false,
    ...overrides,
  };
}

export function capture(samples: StatsSample[], metaOverrides: Partial<CaptureMeta> = {}): Capture {
  return { meta: meta({ sample_count: samples.length, ...metaOverrides }), samples };
}

/** n samples every 2 s of one session. */
export function series(n: number, overrides: (i: number) => Partial<StatsSample> = () => ({})): StatsSample[] {
  return Array.from({ length: n }, (_, i) => sample(2000 * (i + 1), overrides(i)));
}

/** A GameStream window that counted sound and input (packets and events over the window). */
export function gamestreamSample(t_ms: number, overrides: Partial<StatsSample> = {}): StatsSample {
  return sample(
    t_ms,
    {
      rtt_us: 2500,
      audio_packets: 200,
      audio_encode_p50_us: 150,
      audio_encode_p99_us: 420,
      input_events: 60,
      ...overrides,
    },
    GAMESTREAM,
  );
}

/**
 * What the host's summary endpoint answers for a 3-window native recording (microseconds;
 * packets and FEC never measured, frames dropped measured in 2 of 3 windows).
 */
export function recordingSummary(overrides: Partial<RecordingSummary> = {}): RecordingSummary {
  const stage = (name: string, i: number): LatencySummary => ({
    name,
    windows: 3,
    p50_us: 1000 * (i + 1),
    p99_us: 2000 * (i + 1),
    max_p99_us: 2500 * (i + 1),
  });
  return {
    id: "2026-06-26T20-14-03Z_1280x720",
    meta: meta(),
    windows: 3,
    stages: NATIVE.map(stage),
    host: { name: "host", windows: 3, p50_us: 16000, p99_us: 31000, max_p99_us: 45250.5 },
    fps_mean: 59.94,
    repeat_fps_mean: 0.2,
    mbps_mean: 9.5,
    target_mbps_mean: 10,
    client_decode_us_mean: null,
    rtt_us_median: null,
    audio: null,
    counters: [
      { name: "frames_dropped", total: 4, measured: 2, windows: 3 },
      { name: "packets_dropped", total: null, measured: 0, windows: 3 },
      { name: "send_dropped", total: 0, measured: 3, windows: 3 },
      { name: "fec_recovered", total: null, measured: 0, windows: 3 },
      { name: "audio_packets", total: null, measured: 0, windows: 3 },
      { name: "input_events", total: null, measured: 0, windows: 3 },
    ],
    sessions: [{ session_id: 1, windows: 3, first_t_ms: 2000, last_t_ms: 6000, fps_mean: 59.94, mbps_mean: 9.5, host: null }],
    ...overrides,
  };
}
