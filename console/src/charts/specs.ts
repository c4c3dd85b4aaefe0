/**
 * Chart models: a timeline (timeline.ts) turned into uPlot options + aligned data, for the
 * detail, live and compare views. Pure: no DOM, no React; `UplotChart` draws a model.
 *
 * The data arrays of a model are the timeline's own columns (no copies), so when a live
 * timeline grows in place, `setData` on the same arrays redraws the longer series.
 */
import type uPlot from "uplot";
import type { SessionInfo } from "../data/sessions";
import { stageColor, type ColorScheme } from "../data/stages";
import type { Column, Percentile, SeriesKey, Timeline } from "../data/timeline";
import type { MessageKey, Translate } from "../i18n/messages";
import { THEMES, withAlpha, type ChartTheme } from "./theme";
import { TimeAxis } from "./timeAxis";

export interface ChartModel {
  id: string;
  title: string;
  /** Shown under the title: e.g. which series were not measured. */
  notes: string[];
  /** No series to draw: the view shows `notes` instead of a chart. */
  empty: boolean;
  options: Omit<uPlot.Options, "width" | "height">;
  data: uPlot.AlignedData;
}

export interface ChartEnv {
  scheme: ColorScheme;
  t: Translate;
  /** Intl locale for numbers. */
  locale: string;
  /** Charts with the same key share the cursor. */
  syncKey: string;
  /**
   * What the time axis shows (elapsed by default). Read when ticks and the cursor readout
   * are drawn, so a view changes it without new models: see charts/timeAxis.ts.
   */
  time?: TimeAxis;
}

/** Compare aligns recordings on the time since their start: always elapsed. */
const ELAPSED = new TimeAxis("elapsed");

type Formatter = (value: number | null | undefined) => string;

const numberFormats = new Map<string, Intl.NumberFormat>();
export function numberFormatter(locale: string, digits: number, unit: string): Formatter {
  const key = `${locale}|${digits}`;
  let nf = numberFormats.get(key);
  if (nf === undefined) {
    nf = new Intl.NumberFormat(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits });
    numberFormats.set(key, nf);
  }
  const format = nf;
  return (v) => (v === null || v === undefined ? "—" : unit === "" ? format.format(v) : `${format.format(v)} ${unit}`);
}

interface SeriesSpec {
  label: string;
  column: Column;
  /** The value the legend shows at the cursor (stacked series show the stage's own). */
  shown?: Column;
  stroke: string;
  fill?: string;
  dash?: number[];
  width?: number;
  scale: string;
  format: Formatter;
}

interface AxisSpec {
  scale: string;
  label: string;
  side: "left" | "right";
  /** Whole-number ticks (counts). */
  integer?: boolean;
}

/** Tick steps for the time axis, in seconds: whole seconds up to hours. */
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];
const COUNT_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

function xSeries(t: Translate, time: TimeAxis, locale: string): uPlot.Series {
  return {
    label: t("chart.time"),
    value: (_u, v) => time.readout(v, locale),
  };
}

function buildModel(
  id: string,
  title: string,
  x: number[],
  series: SeriesSpec[],
  axes: AxisSpec[],
  env: ChartEnv,
  extra: { notes?: string[]; bands?: uPlot.Band[] } = {},
): ChartModel {
  const theme: ChartTheme = THEMES[env.scheme];
  const scales: uPlot.Scales = { x: { time: false } };
  // From zero, with a little room below it so that a series at 0 ("measured, none
  // happened") stays visible instead of hiding under the plot's edge.
  for (const a of axes) {
    scales[a.scale] = {
      range: (_u, _min, max) => {
        const hi = max > 0 ? max * 1.05 : 1;
        return [-hi * 0.03, hi];
      },
    };
  }
  const axisBase = { stroke: theme.text, grid: { stroke: theme.grid, width: 1 }, ticks: { stroke: theme.grid, width: 1 } };
  const time = env.time ?? ELAPSED;
  const { locale } = env;
  const uAxes: uPlot.Axis[] = [
    {
      ...axisBase,
      incrs: TIME_INCRS,
      // Clock times ("00:13:20") are wider than elapsed times ("13:20"): more room per tick.
      space: () => (time.wall ? 72 : 50),
      splits: (_u, _axis, min, max, incr) => time.splits(min, max, incr),
      values: (_u, splits, _axis, _space, incr) => splits.map((v) => time.tick(v, incr, locale)),
    },
    ...axes.map(
      (a): uPlot.Axis => ({
        ...axisBase,
        scale: a.scale,
        side: a.side === "left" ? 3 : 1,
        label: a.label,
        labelSize: 18,
        size: 52,
        grid: a.side === "left" ? axisBase.grid : { show: false },
        ...(a.integer === true ? { incrs: COUNT_INCRS } : {}),
      }),
    ),
  ];
  const uSeries: uPlot.Series[] = [
    xSeries(env.t, time, locale),
    ...series.map((s): uPlot.Series => {
      const shown = s.shown;
      const format = s.format;
      return {
        label: s.label,
        scale: s.scale,
        stroke: s.stroke,
        width: s.width ?? 1.5,
        ...(s.fill !== undefined ? { fill: s.fill, fillTo: 0 } : {}),
        ...(s.dash !== undefined ? { dash: s.dash } : {}),
        spanGaps: false,
        value: (_u, v, _si, idx) => format(shown !== undefined && idx !== null ? shown[idx] : v),
      };
    }),
  ];
  return {
    id,
    title,
    notes: extra.notes ?? [],
    empty: series.length === 0,
    options: {
      series: uSeries,
      axes: uAxes,
      scales,
      ...(extra.bands !== undefined ? { bands: extra.bands } : {}),
      legend: { live: true },
      cursor: { sync: { key: env.syncKey }, drag: { x: true, y: false } },
    },
    data: [x, ...series.map((s) => s.column)],
  };
}

/**
 * What the charts know of each session beyond its samples: its path (native, gamestream)
 * and whether its RTT was measured (data/sessions.ts, `describeSessions`).
 */
export type Sessions = ReadonlyMap<number, SessionInfo>;
const NO_SESSIONS: Sessions = new Map();

export function sessionMap(sessions: readonly SessionInfo[]): Sessions {
  return new Map(sessions.map((s) => [s.id, s]));
}

/**
 * "session 2", "sessions 1, 3"; with their paths when known: "session 2 (gamestream)",
 * "sessions 1, 3 (native)", "sessions 1 (native), 3 (gamestream)".
 */
export function sessionsLabel(ids: readonly number[], t: Translate, sessions: Sessions = NO_SESSIONS): string {
  const kinds = ids.map((id) => sessions.get(id)?.kind ?? null);
  const shared = kinds.every((k) => k === kinds[0]) ? kinds[0] : undefined;
  const list =
    shared === undefined
      ? ids.map((id, i) => (kinds[i] === null ? String(id) : `${id} (${kinds[i]})`)).join(", ")
      : ids.join(", ") + (shared === null || shared === undefined ? "" : ` (${shared})`);
  return ids.length === 1 ? t("chart.session", { ids: list }) : t("chart.sessions", { ids: list });
}

/** Whether the capture's sessions took more than one path. */
function mixedPaths(sessions: Sessions): boolean {
  const kinds = new Set<string | null>();
  for (const s of sessions.values()) kinds.add(s.kind);
  return kinds.size > 1;
}

/** Which sessions a lane's series are: said when there are several lanes or paths. */
function laneSuffix(tl: Timeline, lane: number, t: Translate, sessions: Sessions): string {
  if (tl.lanes.length <= 1 && !mixedPaths(sessions)) return "";
  return ` · ${sessionsLabel(tl.lanes[lane].sessions, t, sessions)}`;
}

/** The stage breakdown of one lane as a stacked area, plus host total, decode and budget. */
export function latencyChart(
  tl: Timeline,
  laneIndex: number,
  mode: Percentile,
  env: ChartEnv,
  idPrefix: string,
  sessions: Sessions = NO_SESSIONS,
): ChartModel {
  const { t } = env;
  const theme = THEMES[env.scheme];
  const lane = tl.lanes[laneIndex];
  const ms = numberFormatter(env.locale, 3, "ms");
  const raw = mode === "p50" ? lane.p50 : lane.p99;
  const stacked = mode === "p50" ? lane.stack50 : lane.stack99;
  const series: SeriesSpec[] = lane.stages.map((name, i) => {
    const color = stageColor(name, env.scheme);
    return {
      label: name,
      column: stacked[i],
      shown: raw[i],
      stroke: color,
      fill: withAlpha(color, env.scheme === "dark" ? 0.45 : 0.5),
      scale: "ms",
      format: ms,
    };
  });
  const bands: uPlot.Band[] = [];
  for (let i = 1; i < series.length; i++) bands.push({ series: [i + 1, i] });
  const hostKey: SeriesKey = mode === "p50" ? "host_p50_ms" : "host_p99_ms";
  if (lane.present.has(hostKey)) {
    series.push({ label: t("chart.hostTotal"), column: lane.cols[hostKey], stroke: theme.hostTotal, dash: [6, 4], width: 1.5, scale: "ms", format: ms });
  }
  if (lane.present.has("client_decode_ms")) {
    series.push({ label: t("chart.clientDecode"), column: lane.cols.client_decode_ms, stroke: theme.decode, dash: [2, 3], scale: "ms", format: ms });
  }
  if (tl.budgetMs !== null) {
    series.push({
      label: t("chart.budget", { ms: numberFormatter(env.locale, 1, "")(tl.budgetMs) }),
      column: tl.budget,
      stroke: theme.budget,
      dash: [8, 4],
      width: 1.25,
      scale: "ms",
      format: ms,
    });
  }
  const notes: string[] = [];
  if (lane.stages.length === 0) notes.push(t("chart.noStages"));
  const title = t(mode === "p50" ? "chart.latencyP50" : "chart.latencyP99") + laneSuffix(tl, laneIndex, t, sessions);
  return buildModel(`${idPrefix}-latency-${laneIndex}`, title, tl.x, series, [{ scale: "ms", label: "ms", side: "left" }], env, {
    notes,
    bands,
  });
}

interface LineDef {
  key: SeriesKey;
  label: MessageKey;
  scale: string;
  digits: number;
  unit: string;
  dash?: number[];
}

/** Line series for `defs` in every lane; unmeasured ones are left out and listed in notes. */
function lineChart(
  tl: Timeline,
  env: ChartEnv,
  id: string,
  title: MessageKey,
  defs: readonly LineDef[],
  axes: readonly { scale: string; label: MessageKey; side: "left" | "right"; integer?: boolean }[],
  reportUnmeasured: boolean,
  sessions: Sessions = NO_SESSIONS,
): ChartModel {
  const { t } = env;
  const theme = THEMES[env.scheme];
  const series: SeriesSpec[] = [];
  const measured = new Set<SeriesKey>();
  tl.lanes.forEach((lane, l) => {
    defs.forEach((def, d) => {
      if (!lane.present.has(def.key)) return;
      measured.add(def.key);
      const color = theme.palette[(d + l * defs.length) % theme.palette.length];
      series.push({
        label: t(def.label) + laneSuffix(tl, l, t, sessions),
        column: lane.cols[def.key],
        stroke: color,
        ...(def.dash !== undefined ? { dash: def.dash } : {}),
        scale: def.scale,
        format: numberFormatter(env.locale, def.digits, def.unit),
      });
    });
  });
  const notes: string[] = [];
  const missing = defs.filter((d) => !measured.has(d.key)).map((d) => t(d.label));
  if (reportUnmeasured && tl.sampleCount > 0 && missing.length > 0) {
    notes.push(series.length === 0 ? t("chart.nothingMeasured") : t("chart.notMeasured", { names: missing.join(", ") }));
  }
  const usedScales = new Set(series.map((s) => s.scale));
  return buildModel(
    id,
    t(title),
    tl.x,
    series,
    axes
      .filter((a) => usedScales.has(a.scale))
      .map((a) => ({ scale: a.scale, label: t(a.label), side: a.side, ...(a.integer === true ? { integer: true } : {}) })),
    env,
    { notes },
  );
}

export function throughputChart(tl: Timeline, env: ChartEnv, idPrefix: string, sessions: Sessions = NO_SESSIONS): ChartModel {
  return lineChart(
    tl,
    env,
    `${idPrefix}-throughput`,
    "chart.throughput",
    [
      { key: "fps", label: "series.fps", scale: "fps", digits: 1, unit: "fps" },
      { key: "repeat_fps", label: "series.repeatFps", scale: "fps", digits: 1, unit: "fps", dash: [4, 3] },
      { key: "mbps", label: "series.mbps", scale: "mbps", digits: 2, unit: "Mb/s" },
      { key: "target_mbps", label: "series.targetMbps", scale: "mbps", digits: 2, unit: "Mb/s", dash: [8, 4] },
    ],
    [
      { scale: "fps", label: "axis.fps", side: "left" },
      { scale: "mbps", label: "axis.mbps", side: "right" },
    ],
    false,
    sessions,
  );
}

export function healthChart(tl: Timeline, env: ChartEnv, idPrefix: string, sessions: Sessions = NO_SESSIONS): ChartModel {
  return lineChart(
    tl,
    env,
    `${idPrefix}-health`,
    "chart.health",
    [
      { key: "frames_dropped", label: "series.framesDropped", scale: "n", digits: 0, unit: "" },
      { key: "packets_dropped", label: "series.packetsDropped", scale: "n", digits: 0, unit: "" },
      { key: "send_dropped", label: "series.sendDropped", scale: "n", digits: 0, unit: "" },
      { key: "fec_recovered", label: "series.fecRecovered", scale: "n", digits: 0, unit: "" },
    ],
    [{ scale: "n", label: "axis.perWindow", side: "left", integer: true }],
    true,
    sessions,
  );
}

/** Host telemetry charts; a chart whose series were never measured is left out entirely. */
export function telemetryCharts(tl: Timeline, env: ChartEnv, idPrefix: string, sessions: Sessions = NO_SESSIONS): ChartModel[] {
  const charts = [
    lineChart(
      tl,
      env,
      `${idPrefix}-cpu`,
      "chart.utilization",
      [
        { key: "capture_cpu_pct", label: "series.captureCpu", scale: "pct", digits: 1, unit: "%" },
        { key: "send_cpu_pct", label: "series.sendCpu", scale: "pct", digits: 1, unit: "%" },
        { key: "gpu_util_pct", label: "series.gpuUtil", scale: "pct", digits: 0, unit: "%" },
        { key: "gpu_encoder_util_pct", label: "series.gpuEncoderUtil", scale: "pct", digits: 0, unit: "%" },
      ],
      [{ scale: "pct", label: "axis.percent", side: "left" }],
      false,
      sessions,
    ),
    lineChart(
      tl,
      env,
      `${idPrefix}-memory`,
      "chart.memory",
      [
        { key: "capture_rss_mb", label: "series.captureRss", scale: "mb", digits: 1, unit: "MB" },
        { key: "send_rss_mb", label: "series.sendRss", scale: "mb", digits: 1, unit: "MB" },
        { key: "gpu_memory_used_mb", label: "series.gpuMemory", scale: "mb", digits: 0, unit: "MB" },
      ],
      [{ scale: "mb", label: "axis.mb", side: "left" }],
      false,
      sessions,
    ),
    lineChart(
      tl,
      env,
      `${idPrefix}-gpu`,
      "chart.gpu",
      [
        { key: "gpu_graphics_clock_mhz", label: "series.gpuGraphicsClock", scale: "mhz", digits: 0, unit: "MHz" },
        { key: "gpu_video_clock_mhz", label: "series.gpuVideoClock", scale: "mhz", digits: 0, unit: "MHz" },
        { key: "gpu_power_w", label: "series.gpuPower", scale: "w", digits: 1, unit: "W" },
      ],
      [
        { scale: "mhz", label: "axis.mhz", side: "left" },
        { scale: "w", label: "axis.watts", side: "right" },
      ],
      false,
      sessions,
    ),
    lineChart(
      tl,
      env,
      `${idPrefix}-gpu-encoder`,
      "chart.gpuEncoder",
      [
        { key: "gpu_encoder_fps", label: "series.gpuEncoderFps", scale: "fps", digits: 1, unit: "fps" },
        { key: "gpu_encoder_latency_ms", label: "series.gpuEncoderLatency", scale: "ms", digits: 3, unit: "ms" },
      ],
      [
        { scale: "fps", label: "axis.fps", side: "left" },
        { scale: "ms", label: "axis.ms", side: "right" },
      ],
      false,
      sessions,
    ),
  ];
  return charts.filter((c) => !c.empty);
}

/**
 * The control channel's round-trip time per lane, in ms (GameStream measures it over
 * ENet). Only a capture where some session measured it gets this chart; sessions that did
 * not are named in a note, never drawn as 0.
 */
export function rttChart(tl: Timeline, env: ChartEnv, idPrefix: string, sessions: Sessions = NO_SESSIONS): ChartModel {
  const model = lineChart(
    tl,
    env,
    `${idPrefix}-rtt`,
    "chart.rtt",
    [{ key: "rtt_ms", label: "series.rtt", scale: "ms", digits: 2, unit: "ms" }],
    [{ scale: "ms", label: "axis.ms", side: "left" }],
    false,
    sessions,
  );
  return noteUnmeasured(model, env, sessions, (s) => s.measuresRtt, "chart.rttNotMeasured");
}

/**
 * Sound and input per lane: the Opus encode time per packet (p50, p99; ms) and the audio
 * packets sent and input events received, per second (each window's count divided by its
 * length). GameStream counts them, the native path does not: only a capture where some
 * session measured them gets this chart, and sessions that did not are named in a note,
 * never drawn as 0.
 */
export function soundInputChart(tl: Timeline, env: ChartEnv, idPrefix: string, sessions: Sessions = NO_SESSIONS): ChartModel {
  const model = lineChart(
    tl,
    env,
    `${idPrefix}-sound-input`,
    "chart.soundInput",
    [
      { key: "audio_encode_p50_ms", label: "series.audioEncodeP50", scale: "ms", digits: 3, unit: "ms" },
      { key: "audio_encode_p99_ms", label: "series.audioEncodeP99", scale: "ms", digits: 3, unit: "ms", dash: [6, 4] },
      { key: "audio_packets_ps", label: "series.audioPackets", scale: "rate", digits: 1, unit: "/s" },
      { key: "input_events_ps", label: "series.inputEvents", scale: "rate", digits: 1, unit: "/s" },
    ],
    [
      { scale: "ms", label: "axis.ms", side: "left" },
      { scale: "rate", label: "axis.perSecond", side: "right" },
    ],
    false,
    sessions,
  );
  return noteUnmeasured(model, env, sessions, (s) => s.measuresSoundInput, "chart.soundInputNotMeasured");
}

/** A drawn chart names, in a note, the sessions that never measured what it shows. */
function noteUnmeasured(
  model: ChartModel,
  env: ChartEnv,
  sessions: Sessions,
  measures: (session: SessionInfo) => boolean,
  note: "chart.rttNotMeasured" | "chart.soundInputNotMeasured",
): ChartModel {
  if (model.empty) return model;
  const unmeasured = [...sessions.values()].filter((s) => !measures(s)).map((s) => s.id);
  if (unmeasured.length > 0) model.notes.push(env.t(note, { sessions: sessionsLabel(unmeasured, env.t, sessions) }));
  return model;
}

/** Everything the recording detail shows, in order. */
export function detailCharts(tl: Timeline, mode: Percentile, env: ChartEnv, sessions: Sessions = NO_SESSIONS): ChartModel[] {
  const lanes = tl.lanes.length === 0 ? [] : tl.lanes.map((_, l) => latencyChart(tl, l, mode, env, "detail", sessions));
  const rtt = rttChart(tl, env, "detail", sessions);
  const sound = soundInputChart(tl, env, "detail", sessions);
  return [
    ...lanes,
    throughputChart(tl, env, "detail", sessions),
    ...(rtt.empty ? [] : [rtt]),
    ...(sound.empty ? [] : [sound]),
    healthChart(tl, env, "detail", sessions),
    ...telemetryCharts(tl, env, "detail", sessions),
  ];
}

/** The live view: the stage breakdown (p50), throughput, and RTT and sound/input once measured. */
export function liveCharts(tl: Timeline, env: ChartEnv, sessions: Sessions = NO_SESSIONS): ChartModel[] {
  const rtt = rttChart(tl, env, "live", sessions);
  const sound = soundInputChart(tl, env, "live", sessions);
  return [
    ...tl.lanes.map((_, l) => latencyChart(tl, l, "p50", env, "live", sessions)),
    throughputChart(tl, env, "live", sessions),
    ...(rtt.empty ? [] : [rtt]),
    ...(sound.empty ? [] : [sound]),
  ];
}

const SOUND_INPUT_KEYS: readonly SeriesKey[] = ["audio_encode_p50_ms", "audio_encode_p99_ms", "audio_packets_ps", "input_events_ps"];

/** The ids `liveCharts` draws for this timeline (what a live update waits for). */
export function liveChartIds(tl: Timeline): string[] {
  const ids = tl.lanes.map((_, l) => `live-latency-${l}`);
  ids.push("live-throughput");
  if (tl.lanes.some((lane) => lane.present.has("rtt_ms"))) ids.push("live-rtt");
  if (tl.lanes.some((lane) => SOUND_INPUT_KEYS.some((key) => lane.present.has(key)))) ids.push("live-sound-input");
  return ids;
}

// -- compare ------------------------------------------------------------------------------

export interface CompareTrack {
  /** Short label of the recording ("A", "B", …) and its lane suffix. */
  label: string;
  color: string;
  column: Column;
}

export function overlayChart(
  id: string,
  title: string,
  x: number[],
  tracks: readonly CompareTrack[],
  unit: { scale: string; label: string; digits: number; suffix: string },
  env: ChartEnv,
): ChartModel {
  const format = numberFormatter(env.locale, unit.digits, unit.suffix);
  return buildModel(
    id,
    title,
    x,
    tracks.map((tr) => ({ label: tr.label, column: tr.column, stroke: tr.color, width: 1.75, scale: unit.scale, format })),
    [{ scale: unit.scale, label: unit.label, side: "left" }],
    env,
  );
}
