/**
 * The capture control card and, while armed, the live charts.
 *
 * Every 2 s: status, then (while armed) the live samples from `offset = samples we hold`.
 * New samples are appended to the TimelineBuilder's columns in place and the live charts
 * are redrawn with `setData` on the same arrays: no React render, no chart re-creation.
 * Only a change of structure (new lane, stage or measured series, a new capture) renders
 * the charts anew.
 */
import { useCallback, useMemo, useRef, useState } from "react";
import type { CaptureMeta, StatsStatus } from "../api/types";
import { useApi } from "../app/auth";
import { useColorScheme } from "../app/colorScheme";
import { errorMessage } from "../app/errors";
import { drawBarrier, perf } from "../app/perf";
import { usePoll } from "../app/usePoll";
import type { ChartRegistry } from "../charts/UplotChart";
import { liveChartIds, liveCharts, sessionMap, type ChartEnv } from "../charts/specs";
import { useTimeAxis, useTimeAxisMode } from "../charts/timeAxis";
import { EMPTY_CURSOR, liveStep, type LiveCursor } from "../data/live";
import { describeSessions, type SessionInfo } from "../data/sessions";
import { frameBudgetMs, TimelineBuilder, type AppendResult } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import { CaptureControlView } from "../views/CaptureControlView";
import { LiveChartsView } from "../views/LiveChartsView";

export const POLL_MS = 2000;

interface LiveState {
  builder: TimelineBuilder;
  fps: number;
}

export function CaptureSection({ onSaved }: { onSaved: (meta: CaptureMeta) => void }) {
  const api = useApi();
  const { t, intl } = useI18n();
  const scheme = useColorScheme();
  const [status, setStatus] = useState<StatsStatus | null>(null);
  // Kept apart: a successful status poll clears a polling error, never a failed action's.
  const [pollError, setPollError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [liveError, setLiveError] = useState<string | null>(null);
  const [busy, setBusy] = useState<"start" | "stop" | null>(null);
  const [lastSaved, setLastSaved] = useState<CaptureMeta | null>(null);
  const [nothingToSave, setNothingToSave] = useState(false);
  const [structure, setStructure] = useState(0);
  const [liveSamples, setLiveSamples] = useState(0);

  const live = useRef<LiveState | null>(null);
  const cursor = useRef<LiveCursor>(EMPTY_CURSOR);
  const registry = useRef<ChartRegistry>(new Map()).current;
  const pendingDraw = useRef<((id: string) => void) | null>(null);

  const resetLive = useCallback(() => {
    live.current = null;
    cursor.current = EMPTY_CURSOR;
    setLiveSamples(0);
    setStructure((v) => v + 1);
  }, []);

  /** Measure from "samples in hand" to "every live chart redrawn". */
  const measure = useCallback(
    (start: number, appended: number, result: AppendResult) => {
      const state = live.current;
      if (state === null) return;
      pendingDraw.current = drawBarrier(liveChartIds(state.builder.timeline), (at) => {
        pendingDraw.current = null;
        perf().liveUpdates.push({ ms: at - start, appended, total: state.builder.count, rebuilt: result === "rebuilt" });
      });
    },
    [],
  );

  const pollLive = useCallback(async () => {
    let response = await api.live(cursor.current.received);
    if (response === null) return;
    let step = liveStep(cursor.current, response);
    if (step.kind === "refetch") {
      response = await api.live(0);
      if (response === null) return;
      step = liveStep(EMPTY_CURSOR, response);
    }
    if (step.kind === "refetch") return;
    const start = performance.now();
    const fps = response.meta.fps;
    let state = live.current;
    let result: AppendResult;
    if (step.kind === "reset" || state === null) {
      state = { builder: new TimelineBuilder(frameBudgetMs(fps)), fps };
      live.current = state;
      state.builder.append(step.samples);
      result = "rebuilt";
    } else if (state.fps !== fps) {
      // The first session announced the frame rate: the budget line changes.
      const previous = state.builder;
      state = { builder: new TimelineBuilder(frameBudgetMs(fps)), fps };
      live.current = state;
      state.builder.append([...previous.samplesSoFar(), ...step.samples]);
      result = "rebuilt";
    } else {
      result = state.builder.append(step.samples);
    }
    cursor.current = step.cursor;
    if (result === "unchanged") return;
    measure(start, step.samples.length, result);
    setLiveSamples(state.builder.count);
    if (result === "rebuilt") {
      setStructure((v) => v + 1);
    } else {
      for (const plot of registry.values()) plot.setData(plot.data);
    }
  }, [api, measure, registry]);

  const poke = usePoll(async (stopped) => {
    try {
      const next = await api.status();
      if (stopped()) return;
      setStatus(next);
      setPollError(null);
      if (next.armed) {
        try {
          await pollLive();
          setLiveError(null);
        } catch (err: unknown) {
          if (!stopped()) setLiveError(errorMessage(err, t));
        }
      } else if (live.current !== null) {
        resetLive();
      }
    } catch (err: unknown) {
      if (!stopped()) setPollError(errorMessage(err, t));
    }
  }, POLL_MS);

  const onStart = useCallback(async () => {
    setBusy("start");
    setActionError(null);
    setNothingToSave(false);
    try {
      const next = await api.start();
      setStatus(next);
      setLastSaved(null);
      resetLive();
      poke();
    } catch (err: unknown) {
      setActionError(errorMessage(err, t));
    } finally {
      setBusy(null);
    }
  }, [api, poke, resetLive, t]);

  const onStop = useCallback(async () => {
    setBusy("stop");
    setActionError(null);
    try {
      const meta = await api.stop();
      setLastSaved(meta);
      setNothingToSave(meta === null);
      if (meta !== null) onSaved(meta);
      resetLive();
      poke();
    } catch (err: unknown) {
      // e.g. a 500 when the disk is full: the host keeps recording; say so and stay armed.
      setActionError(errorMessage(err, t));
      poke();
    } finally {
      setBusy(null);
    }
  }, [api, onSaved, poke, resetLive, t]);

  // Elapsed or clock time: labels only, the live charts and their columns stay.
  const [timeMode, setTimeMode] = useTimeAxisMode();
  const time = useTimeAxis(timeMode, status?.armed ? status.started_unix_ms : null);
  const env = useMemo<ChartEnv>(() => ({ scheme, t, locale: intl, syncKey: "live", time }), [scheme, t, intl, time]);
  const captureKind = status?.kind ?? "";
  // What the charts say of the sessions. The capture's kind arrives with a status poll,
  // often after the first samples; it only matters where stages do not tell a session's
  // path, so the charts are made again only when the description itself changes.
  const sessionsKey = useMemo(() => {
    const state = live.current;
    return state === null ? "[]" : JSON.stringify(describeSessions(state.builder.samplesSoFar(), captureKind));
    // `structure` stands for the builder's timeline identity (kept in a ref).
  }, [structure, captureKind]);
  const models = useMemo(() => {
    const state = live.current;
    if (state === null) return [];
    return liveCharts(state.builder.timeline, env, sessionMap(JSON.parse(sessionsKey) as SessionInfo[]));
    // `structure` stands for the builder's timeline identity (kept in a ref).
  }, [structure, env, sessionsKey]);
  const onDrawn = useCallback((id: string) => pendingDraw.current?.(id), []);

  return (
    <>
      <CaptureControlView
        status={status}
        busy={busy}
        errors={[actionError, pollError]}
        lastSaved={lastSaved}
        nothingToSave={nothingToSave}
        onStart={() => void onStart()}
        onStop={() => void onStop()}
      />
      {status?.armed ? (
        <LiveChartsView
          models={models}
          samples={liveSamples}
          error={liveError}
          registry={registry}
          onDrawn={onDrawn}
          timeMode={timeMode}
          timeKey={time.key}
          onTimeModeChange={setTimeMode}
        />
      ) : null}
    </>
  );
}
