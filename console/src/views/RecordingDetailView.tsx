import { useMemo, type ReactNode } from "react";
import type { CaptureColumns, ExportFormat } from "../api/types";
import { drawBarrier } from "../app/perf";
import { detailCharts, sessionMap, type ChartEnv } from "../charts/specs";
import { useTimeAxis, useTimeAxisMode } from "../charts/timeAxis";
import { formatDateTime, formatElapsed, resolutionLabel } from "../data/format";
import { describeSessionColumns, type SessionInfo } from "../data/sessions";
import type { ColorScheme } from "../data/stages";
import { frameBudgetMs, timelineOfColumns, type Percentile } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import { RecordingSummarySection } from "../sections/RecordingSummarySection";
import { Badge, ChartCard, ErrorNotice, Notice, RecoveredTag, Segmented, TimeAxisToggle } from "./common";
import { kindTone } from "./RecordingsTableView";

export interface RecordingDetailViewProps {
  /** The recording column by column (`GET …/columns`). */
  recording: CaptureColumns;
  mode: Percentile;
  scheme: ColorScheme;
  onModeChange: (mode: Percentile) => void;
  onDownload?: (format: ExportFormat) => void;
  error?: string | null;
  /** Once every chart has drawn (per capture and mode). */
  onAllChartsDrawn?: (info: { at: number; charts: number }) => void;
  /**
   * The summary tables under the header; by default the host's summary of this recording
   * (`RecordingSummarySection`, which fetches it). Tests pass a `SummaryTableView` or null.
   */
  summary?: ReactNode;
}

export function RecordingDetailView({ recording, mode, scheme, onModeChange, onDownload, error, onAllChartsDrawn, summary }: RecordingDetailViewProps) {
  const { t, intl } = useI18n();
  const { meta } = recording;
  const timeline = useMemo(() => {
    const start = performance.now();
    const tl = timelineOfColumns(recording, frameBudgetMs(meta.fps));
    performance.measure("pf:detail-timeline", { start });
    return tl;
  }, [recording, meta.fps]);
  const sessions = useMemo(() => describeSessionColumns(recording, meta.kind), [recording, meta.kind]);
  // The time axis choice changes labels only: same models, same charts.
  const [timeMode, setTimeMode] = useTimeAxisMode();
  const time = useTimeAxis(timeMode, meta.started_unix_ms);
  const env = useMemo<ChartEnv>(() => ({ scheme, t, locale: intl, syncKey: "detail", time }), [scheme, t, intl, time]);
  const models = useMemo(() => {
    const start = performance.now();
    const charts = detailCharts(timeline, mode, env, sessionMap(sessions));
    performance.measure("pf:detail-models", { start });
    return charts;
  }, [timeline, mode, env, sessions]);
  const kinds = pathsOf(sessions, meta.kind);
  const onDrawn = useMemo(() => {
    const drawable = models.filter((m) => !m.empty).map((m) => m.id);
    return drawBarrier(drawable, (at) => onAllChartsDrawn?.({ at, charts: drawable.length }));
  }, [models, onAllChartsDrawn]);
  const empty = recording.t_ms.length === 0;

  return (
    <article className="detail" aria-labelledby="detail-title">
      <section className="card">
        <div className="card-head">
          <h1 id="detail-title">{formatDateTime(intl, meta.started_unix_ms)}</h1>
          <span className="badges">
            {kinds.length === 0 ? <Badge tone="other">{t("recordings.noSession")}</Badge> : null}
            {kinds.map((kind) => (
              <Badge key={kind} tone={kindTone(kind)}>
                {kind}
              </Badge>
            ))}
            {meta.recovered ? <RecoveredTag /> : null}
          </span>
        </div>
        <p className="muted mono">{meta.id}</p>
        <dl className="facts">
          <div><dt>{t("recordings.resolution")}</dt><dd>{resolutionLabel(meta)}</dd></div>
          <div><dt>{t("recordings.codec")}</dt><dd>{meta.codec || "—"}</dd></div>
          <div><dt>{t("recordings.encoder")}</dt><dd>{meta.encoder || "—"}</dd></div>
          <div><dt>{t("detail.gpu")}</dt><dd>{meta.gpu || "—"}</dd></div>
          <div><dt>{t("detail.client")}</dt><dd>{meta.client || "—"}</dd></div>
          <div><dt>{t("recordings.duration")}</dt><dd>{formatElapsed(meta.duration_ms)}</dd></div>
          <div><dt>{t("recordings.samples")}</dt><dd>{meta.sample_count.toLocaleString(intl)}</dd></div>
          <div><dt>{t("detail.sessions")}</dt><dd>{timeline.sessionCount}</dd></div>
        </dl>
        {sessions.length > 1 ? <SessionPaths sessions={sessions} /> : null}
        {meta.truncated ? <Notice tone="warn">{t("detail.truncated", { n: meta.sample_count })}</Notice> : null}
        {empty ? <Notice>{t("detail.empty")}</Notice> : null}
        {timeline.sessionCount > 1 ? (
          <Notice>
            {timeline.lanes.length > 1 ? t("detail.sessionsConcurrent", { n: timeline.sessionCount }) : t("detail.sessionsSequential", { n: timeline.sessionCount })}
          </Notice>
        ) : null}
        <div className="actions">
          {empty ? null : (
            <Segmented<Percentile>
              label={t("detail.percentile")}
              value={mode}
              onChange={onModeChange}
              options={[
                { value: "p50", label: "p50" },
                { value: "p99", label: "p99" },
              ]}
            />
          )}
          {empty ? null : <TimeAxisToggle value={timeMode} onChange={setTimeMode} />}
          {onDownload !== undefined ? (
            <>
              <button type="button" onClick={() => onDownload("json")}>{t("recordings.downloadJson")}</button>
              <button type="button" onClick={() => onDownload("csv")}>{t("recordings.downloadCsv")}</button>
            </>
          ) : null}
        </div>
        <ErrorNotice message={error ?? null} />
      </section>
      {empty ? null : summary === undefined ? <RecordingSummarySection id={meta.id} /> : summary}
      {empty ? null : (
        <div className="chart-grid">
          {models.map((m) => (
            <ChartCard key={m.id} model={m} onDrawn={onDrawn} timeKey={time.key} />
          ))}
        </div>
      )}
    </article>
  );
}

/** The paths the capture's sessions took, in first-seen order (the capture's kind if none is known). */
function pathsOf(sessions: readonly SessionInfo[], captureKind: string): string[] {
  const kinds: string[] = [];
  for (const s of sessions) if (s.kind !== null && !kinds.includes(s.kind)) kinds.push(s.kind);
  if (kinds.length === 0 && captureKind !== "") kinds.push(captureKind);
  return kinds;
}

/** Shown sessions before the list says "+N more" (a reconnecting client makes many). */
const LISTED_SESSIONS = 12;

function SessionPaths({ sessions }: { sessions: readonly SessionInfo[] }) {
  const { t } = useI18n();
  const shown = sessions.slice(0, LISTED_SESSIONS);
  return (
    <ul className="session-paths" aria-label={t("detail.sessionPaths")}>
      {shown.map((s) => (
        <li key={s.id} data-session-id={s.id}>
          <span>{t("chart.session", { ids: s.id })}</span>{" "}
          <Badge tone={s.kind === null ? "other" : kindTone(s.kind)}>{s.kind ?? "?"}</Badge>
        </li>
      ))}
      {sessions.length > shown.length ? <li className="muted">{t("detail.moreSessions", { n: sessions.length - shown.length })}</li> : null}
    </ul>
  );
}
