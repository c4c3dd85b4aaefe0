/**
 * Generated from ../api/openapi.json ("x-stage-sets", StatsSample) by scripts/generate-stages.mjs.
 * Do not make direct changes to the file: run `npm run generate`.
 */

/** Each streaming path's stages, in pipeline order, as the host declares them. */
export const STAGE_SETS = {
  "native": ["capture", "submit", "encode", "handoff", "send"],
  "gamestream": ["capture", "encode", "handoff", "packetize", "send"],
} as const;

/** A streaming path: a capture's `kind`. */
export type PathKind = keyof typeof STAGE_SETS;

/** A stage that some path declares. */
export type StageName = (typeof STAGE_SETS)[PathKind][number];

/** The sample fields a recording's columns can hold (`CaptureColumns.fields`), in the host's order. */
export const SAMPLE_FIELDS = ["fps", "repeat_fps", "mbps", "bitrate_kbps", "frames_dropped", "packets_dropped", "send_dropped", "fec_recovered", "host_p50_us", "host_p99_us", "client_decode_us", "rtt_us", "audio_packets", "audio_encode_p50_us", "audio_encode_p99_us", "input_events", "capture_cpu_pct", "capture_rss_mb", "send_cpu_pct", "send_rss_mb", "gpu_util_pct", "gpu_encoder_util_pct", "gpu_encoder_fps", "gpu_encoder_latency_us", "gpu_graphics_clock_mhz", "gpu_video_clock_mhz", "gpu_power_w", "gpu_memory_used_mb"] as const;
