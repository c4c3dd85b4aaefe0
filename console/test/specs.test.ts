import { describe, expect, it } from "vitest";
import {
  detailCharts,
  healthChart,
  latencyChart,
  liveChartIds,
  liveCharts,
  rttChart,
  sessionMap,
  sessionsLabel,
  soundInputChart,
  telemetryCharts,
  type ChartEnv,
} from "../src/charts/specs";
import { describeSessions } from "../src/data/sessions";
import { stageColor } from "../src/data/stages";
import { buildTimeline } from "../src/data/timeline";
import { translator } from "../src/i18n/messages";
import { GAMESTREAM, gamestreamSample, NATIVE, sample, series } from "./fixtures";

const env: ChartEnv = { scheme: "light", t: translator("en"), locale: "en-GB", syncKey: "test" };

describe("latencyChart", () => {
  it("stacks the stages with a band between neighbours, plus host total and frame budget", () => {
    const tl = buildTimeline(series(3), 1000 / 60);
    const m = latencyChart(tl, 0, "p50", env, "d");
    const labels = (m.options.series ?? []).map((s) => s.label);
    expect(labels).toEqual(["t", ...NATIVE, "host total", "frame budget 16.7 ms"]);
    expect(m.options.bands?.map((b) => b.series)).toEqual([
      [2, 1],
      [3, 2],
      [4, 3],
      [5, 4],
    ]);
    // The data are the timeline's own columns (live appends redraw them in place).
    expect(m.data[0]).toBe(tl.x);
    expect(m.data[3]).toBe(tl.lanes[0].stack50[2]);
    expect(m.empty).toBe(false);
  });

  it("shows each stage's own value in the legend, not the stacked edge", () => {
    const tl = buildTimeline(series(1));
    const m = latencyChart(tl, 0, "p99", env, "d");
    const encode = m.options.series?.[3];
    const value = encode?.value;
    expect(typeof value).toBe("function");
    if (typeof value === "function") {
      // stacked edge at encode is 2+4+6 = 12 ms; the legend shows encode's 6 ms
      expect(value({} as never, 12, 3, 0)).toBe("6.000 ms");
    }
  });
});

describe("healthChart", () => {
  it("leaves unmeasured counters out and says so", () => {
    const m = healthChart(buildTimeline(series(2)), env, "d");
    expect((m.options.series ?? []).map((s) => s.label)).toEqual(["t", "frames dropped", "send dropped"]);
    expect(m.notes).toEqual(["Not measured on this path: packets dropped, FEC recovered"]);
  });

  it("becomes a notice when nothing is measured", () => {
    const samples = series(2, () => ({ frames_dropped: null, send_dropped: null }));
    const m = healthChart(buildTimeline(samples), env, "d");
    expect(m.empty).toBe(true);
    expect(m.notes[0]).toMatch(/no drop or recovery counters/);
  });
});

describe("telemetryCharts", () => {
  it("omits charts whose series are all null", () => {
    const ids = telemetryCharts(buildTimeline(series(2)), env, "d").map((m) => m.id);
    expect(ids).toEqual(["d-cpu", "d-memory"]);
    const none = series(2, () => ({ capture_cpu_pct: null, send_cpu_pct: null, capture_rss_mb: null, send_rss_mb: null }));
    expect(telemetryCharts(buildTimeline(none), env, "d")).toEqual([]);
  });

  it("adds the GPU charts when a driver reported them", () => {
    const gpu = series(2, () => ({ gpu_util_pct: 50, gpu_power_w: 80, gpu_encoder_fps: 60 }));
    const ids = telemetryCharts(buildTimeline(gpu), env, "d").map((m) => m.id);
    expect(ids).toEqual(["d-cpu", "d-memory", "d-gpu", "d-gpu-encoder"]);
  });
});

describe("detailCharts / liveCharts", () => {
  it("draws one latency chart per lane of concurrent sessions, labelled with its sessions", () => {
    const tl = buildTimeline([
      sample(1000, { session_id: 1 }),
      sample(1500, { session_id: 2 }, GAMESTREAM),
      sample(3000, { session_id: 1 }),
      sample(3500, { session_id: 2 }, GAMESTREAM),
    ]);
    const charts = detailCharts(tl, "p50", env);
    const latency = charts.filter((c) => c.id.startsWith("detail-latency"));
    expect(latency.map((c) => c.title)).toEqual([
      "Where the time goes: latency by stage (p50) · session 1",
      "Where the time goes: latency by stage (p50) · session 2",
    ]);
    expect(liveCharts(tl, env).map((c) => c.id)).toEqual(["live-latency-0", "live-latency-1", "live-throughput"]);
  });

  it("uses the German catalog", () => {
    const de: ChartEnv = { ...env, t: translator("de"), locale: "de-DE" };
    const m = latencyChart(buildTimeline(series(1), 20), 0, "p50", de, "d");
    expect(m.title).toBe("Wohin die Zeit geht: Latenz nach Stufe (p50)");
    expect(m.options.series?.at(-1)?.label).toBe("Frame-Budget 20,0 ms");
  });
});

describe("GameStream sessions", () => {
  const gamestream = (t: number, overrides = {}) => sample(t, { rtt_us: 2500, ...overrides }, GAMESTREAM);

  it("stacks the GameStream stage set in its pipeline order, each in its own colour", () => {
    const tl = buildTimeline([gamestream(1000), gamestream(2000)], 1000 / 60);
    const m = latencyChart(tl, 0, "p50", env, "d");
    const labels = (m.options.series ?? []).map((s) => s.label);
    expect(labels).toEqual(["t", "capture", "encode", "handoff", "packetize", "send", "host total", "frame budget 16.7 ms"]);
    const strokes = (m.options.series ?? []).slice(1, 6).map((s) => s.stroke);
    expect(strokes).toEqual(GAMESTREAM.map((name) => stageColor(name, "light")));
    expect(new Set(strokes).size).toBe(5);
  });

  it("draws RTT in ms per session and names the sessions that did not measure it", () => {
    const samples = [
      sample(1000, { session_id: 1 }),
      gamestream(1500, { session_id: 2 }),
      sample(3000, { session_id: 1 }),
      gamestream(3500, { session_id: 2, rtt_us: null }),
      gamestream(4500, { session_id: 2, rtt_us: 4000 }),
    ];
    const tl = buildTimeline(samples);
    const sessions = sessionMap(describeSessions(samples, "native"));
    const m = rttChart(tl, env, "d", sessions);
    expect(m.empty).toBe(false);
    expect(m.title).toBe("Network round-trip time (RTT)");
    expect((m.options.series ?? []).map((s) => s.label)).toEqual(["t", "RTT · session 2 (gamestream)"]);
    // Lane 1 (session 2): 2.5 ms, a gap where it was not measured (never 0), then 4 ms.
    expect([...m.data[1]].filter((v) => v !== undefined)).toEqual([2.5, null, 4]);
    expect(m.notes).toEqual(["Not measured for session 1 (native)"]);
  });

  it("leaves the RTT chart out when no session measured it", () => {
    const tl = buildTimeline(series(3));
    expect(rttChart(tl, env, "d").empty).toBe(true);
    expect(detailCharts(tl, "p50", env).map((c) => c.id)).not.toContain("detail-rtt");
    expect(liveCharts(tl, env).map((c) => c.id)).toEqual(liveChartIds(tl));
  });

  it("shows RTT in the detail and live views once measured", () => {
    const tl = buildTimeline([gamestream(1000), gamestream(2000)]);
    const ids = detailCharts(tl, "p50", env).map((c) => c.id);
    expect(ids.slice(0, 3)).toEqual(["detail-latency-0", "detail-throughput", "detail-rtt"]);
    expect(liveChartIds(tl)).toEqual(["live-latency-0", "live-throughput", "live-rtt"]);
    expect(liveCharts(tl, env).map((c) => c.id)).toEqual(liveChartIds(tl));
  });

  it("labels lanes with each session's path when the paths differ", () => {
    const samples = [sample(1000, { session_id: 1 }), gamestream(9000, { session_id: 2 })];
    const tl = buildTimeline(samples);
    const sessions = sessionMap(describeSessions(samples, "native"));
    // One lane (one session after the other), but two paths: the title says which.
    expect(latencyChart(tl, 0, "p50", env, "d", sessions).title).toBe(
      "Where the time goes: latency by stage (p50) · sessions 1 (native), 2 (gamestream)",
    );
    // One path only: no suffix for a single lane, as before.
    const native = buildTimeline(series(2));
    expect(latencyChart(native, 0, "p50", env, "d", sessionMap(describeSessions(series(2), "native"))).title).toBe(
      "Where the time goes: latency by stage (p50)",
    );
  });

  it("says a lane's shared path once, and nothing for unknown paths", () => {
    const t = translator("en");
    const sessions = sessionMap([
      { id: 1, kind: "native", measuresRtt: false, measuresSoundInput: false },
      { id: 3, kind: "native", measuresRtt: false, measuresSoundInput: false },
      { id: 4, kind: null, measuresRtt: false, measuresSoundInput: false },
    ]);
    expect(sessionsLabel([1, 3], t, sessions)).toBe("sessions 1, 3 (native)");
    expect(sessionsLabel([4], t, sessions)).toBe("session 4");
    expect(sessionsLabel([1, 4], t, sessions)).toBe("sessions 1 (native), 4");
    expect(sessionsLabel([1, 3], translator("de"), sessions)).toBe("Sitzungen 1, 3 (native)");
  });
});

describe("soundInputChart", () => {
  it("draws audio encode time in ms and packets and events per second, on two axes", () => {
    const samples = [gamestreamSample(1000), gamestreamSample(2000, { audio_packets: 100, input_events: 0 })];
    const tl = buildTimeline(samples);
    const m = soundInputChart(tl, env, "d", sessionMap(describeSessions(samples, "gamestream")));
    expect(m.empty).toBe(false);
    expect(m.title).toBe("Sound and input");
    expect((m.options.series ?? []).map((s) => s.label)).toEqual([
      "t",
      "audio encode p50",
      "audio encode p99",
      "audio packets/s",
      "input events/s",
    ]);
    expect(m.options.series?.[3].scale).toBe("rate");
    expect((m.options.axes ?? []).slice(1).map((a) => a.label)).toEqual(["ms", "per second"]);
    expect(m.data.slice(1)).toEqual([
      [0.15, 0.15],
      [0.42, 0.42],
      [200, 100],
      [60, 0],
    ]);
    expect(m.notes).toEqual([]);
  });

  it("names the sessions that did not measure it instead of drawing 0", () => {
    const samples = [sample(1000, { session_id: 1 }), gamestreamSample(1500, { session_id: 2 }), sample(3000, { session_id: 1 })];
    const tl = buildTimeline(samples);
    const m = soundInputChart(tl, env, "d", sessionMap(describeSessions(samples, "native")));
    // Only session 2's lane is drawn; session 1 (native) has no series at all.
    expect((m.options.series ?? []).map((s) => s.label)).toEqual([
      "t",
      "audio encode p50 · session 2 (gamestream)",
      "audio encode p99 · session 2 (gamestream)",
      "audio packets/s · session 2 (gamestream)",
      "input events/s · session 2 (gamestream)",
    ]);
    expect(m.data.slice(1).every((col) => !col.includes(0))).toBe(true);
    expect(m.notes).toEqual(["Not measured for session 1 (native)"]);
    const de: ChartEnv = { ...env, t: translator("de"), locale: "de-DE" };
    const mDe = soundInputChart(tl, de, "d", sessionMap(describeSessions(samples, "native")));
    expect(mDe.title).toBe("Ton und Eingabe");
    expect(mDe.notes).toEqual(["Nicht gemessen für Sitzung 1 (native)"]);
  });

  it("is left out of the detail and live views until some window measured it", () => {
    const native = buildTimeline(series(3));
    expect(soundInputChart(native, env, "d").empty).toBe(true);
    expect(detailCharts(native, "p50", env).map((c) => c.id)).not.toContain("detail-sound-input");
    expect(liveChartIds(native)).not.toContain("live-sound-input");

    const gs = buildTimeline([gamestreamSample(1000), gamestreamSample(2000)]);
    const ids = detailCharts(gs, "p50", env).map((c) => c.id);
    expect(ids.slice(0, 5)).toEqual(["detail-latency-0", "detail-throughput", "detail-rtt", "detail-sound-input", "detail-health"]);
    expect(liveChartIds(gs)).toEqual(["live-latency-0", "live-throughput", "live-rtt", "live-sound-input"]);
    expect(liveCharts(gs, env).map((c) => c.id)).toEqual(liveChartIds(gs));
  });
});
