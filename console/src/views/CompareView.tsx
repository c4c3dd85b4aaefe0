import { useMemo } from "react";
import type { Capture } from "../api/types";
import { Link } from "../app/router";
import { overlayChart, sessionsLabel, type ChartEnv, type ChartModel, type CompareTrack } from "../charts/specs";
import { THEMES } from "../charts/theme";
import type { Comparison } from "../api/types";
import { alignTracks, overlayColumn, type OverlayMetric, type Track } from "../data/compare";
import { formatDateTime, resolutionLabel } from "../data/format";
import { stageOrder } from "../data/summary";
import { mergeStageLists, type ColorScheme } from "../data/stages";
import { buildTimeline, type Percentile } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import { ChartCard, ErrorNotice, Notice, Segmented } from "./common";
import { CompareSummaryView, letter } from "./CompareSummaryView";

export { letter };

export interface CompareViewProps {
  /** In the order picked; the first is the baseline. */
  captures: readonly Capture[];
  metric: OverlayMetric;
  pct: Percentile;
  scheme: ColorScheme;
  onMetricChange: (metric: OverlayMetric) => void;
  onPctChange: (pct: Percentile) => void;
  /** The host's comparison (figures and verdicts); null while it loads or when it failed. */
  comparison: Comparison | null;
  comparisonError?: string | null;
}

function metricKey(m: OverlayMetric): string {
  return m.kind === "stage" ? `stage:${m.name}` : m.kind;
}

export function CompareView({ captures, metric, pct, scheme, onMetricChange, onPctChange, comparison, comparisonError = null }: CompareViewProps) {
  const { t, intl } = useI18n();
  const timelines = useMemo(() => captures.map((c) => buildTimeline(c.samples)), [captures]);
  const stages = useMemo(() => mergeStageLists(captures.map((c) => stageOrder(c.samples))), [captures]);

  const models = useMemo((): ChartModel[] => {
    const env: ChartEnv = { scheme, t, locale: intl, syncKey: "compare" };
    const palette = THEMES[scheme].palette;
    const tracks: Track[] = [];
    const labels: { label: string; color: string }[] = [];
    timelines.forEach((tl, i) => {
      tl.lanes.forEach((lane) => {
        const column = (m: OverlayMetric) => overlayColumn(lane, m, pct) ?? tl.x.map(() => null);
        tracks.push({ x: tl.x, ys: [column(metric), column({ kind: "fps" }), column({ kind: "mbps" })] });
        const suffix = tl.lanes.length > 1 ? ` · ${sessionsLabel(lane.sessions, t)}` : "";
        labels.push({ label: `${letter(i)}${suffix}`, color: palette[i % palette.length] });
      });
    });
    const aligned = alignTracks(tracks);
    const pick = (k: number): CompareTrack[] => labels.map((lab, j) => ({ ...lab, column: aligned.ys[j * 3 + k] }));
    const latencyTitle =
      metric.kind === "stage" ? t("compare.chart.stage", { stage: metric.name, pct }) : t("compare.chart.total", { pct });
    return [
      overlayChart("compare-latency", latencyTitle, aligned.x, pick(0), { scale: "ms", label: "ms", digits: 3, suffix: "ms" }, env),
      overlayChart("compare-fps", t("compare.chart.fps"), aligned.x, pick(1), { scale: "fps", label: t("axis.fps"), digits: 1, suffix: "fps" }, env),
      overlayChart("compare-mbps", t("compare.chart.mbps"), aligned.x, pick(2), { scale: "mbps", label: t("axis.mbps"), digits: 2, suffix: "Mb/s" }, env),
    ];
  }, [timelines, metric, pct, scheme, t, intl]);

  const options: { value: string; label: string }[] = [
    { value: "stagesTotal", label: t("compare.metric.stagesTotal") },
    ...stages.map((s) => ({ value: `stage:${s}`, label: s })),
  ];
  const onSelect = (value: string) => {
    onMetricChange(value.startsWith("stage:") ? { kind: "stage", name: value.slice(6) } : { kind: "stagesTotal" });
  };

  return (
    <article className="compare" aria-labelledby="compare-title">
      <section className="card">
        <div className="card-head">
          <h1 id="compare-title">{t("compare.title")}</h1>
        </div>
        <ol className="compare-list">
          {captures.map((c, i) => (
            <li key={c.meta.id}>
              <span className="pick-letter" style={{ background: THEMES[scheme].palette[i % THEMES[scheme].palette.length] }}>
                {letter(i)}
              </span>{" "}
              <Link to={{ name: "recording", id: c.meta.id }}>{formatDateTime(intl, c.meta.started_unix_ms)}</Link>{" "}
              <span className="muted">
                {c.meta.kind || "—"} · {resolutionLabel(c.meta)} · {c.meta.codec || "—"} · {c.meta.encoder || "—"}
                {i === 0 ? ` · ${t("compare.baseline")}` : ""}
              </span>
            </li>
          ))}
        </ol>
        <div className="actions">
          <label className="inline">
            {t("compare.latencyMetric")}{" "}
            <select value={metricKey(metric)} onChange={(e) => onSelect(e.currentTarget.value)}>
              {options.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </label>
          <Segmented<Percentile>
            label={t("detail.percentile")}
            value={pct}
            onChange={onPctChange}
            options={[
              { value: "p50", label: "p50" },
              { value: "p99", label: "p99" },
            ]}
          />
        </div>
      </section>
      <div className="chart-grid">
        {models.map((m) => (
          <ChartCard key={m.id} model={m} />
        ))}
      </div>
      <section className="card" aria-labelledby="summary-title">
        <h2 id="summary-title">{t("compare.summary")}</h2>
        <ErrorNotice message={comparisonError} />
        {comparison !== null ? <CompareSummaryView comparison={comparison} /> : comparisonError === null ? <Notice>{t("common.loading")}</Notice> : null}
      </section>
    </article>
  );
}
