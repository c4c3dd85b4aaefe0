import { useMemo } from "react";
import type { Capture } from "../api/types";
import { Link } from "../app/router";
import { overlayChart, sessionsLabel, type ChartEnv, type ChartModel, type CompareTrack } from "../charts/specs";
import { THEMES } from "../charts/theme";
import { alignTracks, compareRows, overlayColumn, type CompareRow, type Delta, type MetricId, type OverlayMetric, type Track, type Unit } from "../data/compare";
import { formatDateTime, formatNumber, resolutionLabel } from "../data/format";
import { stageOrder, summarize } from "../data/summary";
import { mergeStageLists, type ColorScheme } from "../data/stages";
import { buildTimeline, type Percentile } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import type { MessageKey, Translate } from "../i18n/messages";
import { ChartCard, Segmented } from "./common";

export interface CompareViewProps {
  /** In the order picked; the first is the baseline. */
  captures: readonly Capture[];
  metric: OverlayMetric;
  pct: Percentile;
  scheme: ColorScheme;
  onMetricChange: (metric: OverlayMetric) => void;
  onPctChange: (pct: Percentile) => void;
}

export const letter = (i: number): string => String.fromCharCode(65 + i);

const METRIC_LABEL: Record<Exclude<MetricId, "stage_p50" | "stage_p99">, MessageKey> = {
  stages_total_p50: "compare.metric.stagesTotalP50",
  stages_total_p99: "compare.metric.stagesTotalP99",
  host_p50: "compare.metric.hostP50",
  host_p99: "compare.metric.hostP99",
  mean_fps: "compare.metric.meanFps",
  mean_repeat_fps: "compare.metric.meanRepeatFps",
  mean_mbps: "compare.metric.meanMbps",
  frames_dropped: "compare.metric.framesDropped",
  packets_dropped: "compare.metric.packetsDropped",
  send_dropped: "compare.metric.sendDropped",
  fec_recovered: "compare.metric.fecRecovered",
};

function rowLabel(row: CompareRow, t: Translate): string {
  if (row.metric === "stage_p50") return `${row.stage ?? ""} p50`;
  if (row.metric === "stage_p99") return `${row.stage ?? ""} p99`;
  return t(METRIC_LABEL[row.metric]);
}

const DIGITS: Record<Unit, number> = { ms: 3, fps: 1, mbps: 2, count: 0 };
const SUFFIX: Record<Unit, string> = { ms: " ms", fps: " fps", mbps: " Mb/s", count: "" };

function deltaText(delta: Delta, unit: Unit, intl: string): string {
  const sign = delta.abs > 0 ? "+" : delta.abs < 0 ? "−" : "±";
  if (delta.rel !== null && unit !== "count") return `${sign}${formatNumber(intl, Math.abs(delta.rel) * 100, 1)} %`;
  return `${sign}${formatNumber(intl, Math.abs(delta.abs), DIGITS[unit])}${SUFFIX[unit]}`;
}

const VERDICT_LABEL: Record<Delta["verdict"], MessageKey> = {
  better: "compare.better",
  worse: "compare.worse",
  same: "compare.same",
  neutral: "compare.neutral",
};

function metricKey(m: OverlayMetric): string {
  return m.kind === "stage" ? `stage:${m.name}` : m.kind;
}

export function CompareView({ captures, metric, pct, scheme, onMetricChange, onPctChange }: CompareViewProps) {
  const { t, intl } = useI18n();
  const timelines = useMemo(() => captures.map((c) => buildTimeline(c.samples)), [captures]);
  const rows = useMemo(() => compareRows(captures.map(summarize)), [captures]);
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
        <p className="muted">{t("compare.summaryHelp")}</p>
        <div className="table-wrap">
          <table className="summary-table">
            <thead>
              <tr>
                <th scope="col">{t("compare.metric")}</th>
                {captures.map((c, i) => (
                  <th scope="col" key={c.meta.id}>
                    {letter(i)}
                    {i === 0 ? ` (${t("compare.baseline")})` : ""}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={`${row.metric}:${row.stage ?? ""}`}>
                  <th scope="row">{rowLabel(row, t)}</th>
                  {row.values.map((v, i) => {
                    const d = row.deltas[i];
                    return (
                      <td key={captures[i].meta.id} className={d === null ? undefined : `delta-${d.verdict}`} data-verdict={d?.verdict}>
                        <span className="value">
                          {v === null ? t("compare.unmeasured") : `${formatNumber(intl, v, DIGITS[row.unit])}${SUFFIX[row.unit]}`}
                        </span>
                        {d !== null ? (
                          <span className="delta">
                            {deltaText(d, row.unit, intl)} <span className="verdict">{t(VERDICT_LABEL[d.verdict])}</span>
                          </span>
                        ) : null}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </article>
  );
}
