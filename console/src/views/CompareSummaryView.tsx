/**
 * The compare summary: the host's comparison of the recordings as a table, a row per
 * metric, a column per recording. Each recording after the first shows its change against
 * the first and the host's verdict: better or worse only where the host found the change
 * both large and significant, otherwise "no clear difference". The p-value behind a
 * verdict shows on hover and on keyboard focus (the cell is focusable and described by it).
 */
import { useId, type ReactNode } from "react";
import type { Comparison, ComparisonRow, MetricDelta, Verdict } from "../api/types";
import { formatPValue, parseMetric, shownUnit } from "../data/compare";
import { formatDecimal } from "../data/decimal";
import { useI18n } from "../i18n/I18nProvider";
import type { MessageKey, Translate } from "../i18n/messages";
import { counterLabel } from "./SummaryTableView";

/** "A", "B", …: how the compare page names the recordings picked, in order. */
export const letter = (i: number): string => String.fromCharCode(65 + i);

const VERDICT_LABEL: Record<Verdict, MessageKey> = {
  better: "compare.verdict.better",
  worse: "compare.verdict.worse",
  changed: "compare.verdict.changed",
  no_clear_difference: "compare.verdict.noClearDifference",
  "n/a": "compare.verdict.na",
};

export function rowLabel(row: Pick<ComparisonRow, "metric" | "label">, t: Translate): string {
  const m = parseMetric(row.metric);
  switch (m.kind) {
    case "stage":
      return `${m.stage} ${m.pct}`;
    case "host":
      return t(m.pct === "p50" ? "compare.metric.hostP50" : "compare.metric.hostP99");
    case "audioEncode":
      return t(m.pct === "p50" ? "compare.metric.audioEncodeP50" : "compare.metric.audioEncodeP99");
    case "fps":
      return t("compare.metric.meanFps");
    case "repeatFps":
      return t("compare.metric.meanRepeatFps");
    case "mbps":
      return t("compare.metric.meanMbps");
    case "clientDecode":
      return t("compare.metric.clientDecode");
    case "rtt":
      return t("compare.metric.rtt");
    case "counter": {
      return t("compare.metric.perWindow", { name: counterLabel(m.field, t) });
    }
    case "other":
      return row.label;
  }
}

function changeText(change: number, intl: string): string {
  const sign = change > 0 ? "+" : change < 0 ? "−" : "±";
  return `${sign}${formatDecimal(intl, Math.abs(change) * 100, 1)} %`;
}

export interface CompareSummaryViewProps {
  comparison: Comparison;
}

export function CompareSummaryView({ comparison }: CompareSummaryViewProps) {
  const { t, intl } = useI18n();
  const rule = {
    threshold: `${formatDecimal(intl, comparison.threshold * 100, 0)} %`,
    alpha: formatDecimal(intl, comparison.alpha, 2),
  };
  return (
    <>
      <p className="muted">{t("compare.summaryHelp", rule)}</p>
      <div className="table-wrap">
        <table className="summary-table">
          <caption className="visually-hidden">{t("compare.summaryCaption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("compare.metric")}</th>
              {comparison.ids.map((id, i) => (
                <th scope="col" key={id}>
                  {letter(i)}
                  {i === 0 ? ` (${t("compare.baseline")})` : ""}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {comparison.rows.map((row) => (
              <Row key={row.metric} row={row} ids={comparison.ids} rule={rule} />
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function Row({ row, ids, rule }: { row: ComparisonRow; ids: readonly string[]; rule: { threshold: string; alpha: string } }) {
  const { t, intl } = useI18n();
  const unit = shownUnit(row.unit);
  const label = rowLabel(row, t);
  const valueText = (v: number | null | undefined) =>
    v === null || v === undefined ? t("compare.unmeasured") : `${formatDecimal(intl, v / unit.divisor, unit.digits)}${unit.suffix}`;
  return (
    <tr data-metric={row.metric}>
      <th scope="row">{label}</th>
      {ids.map((id, i) => {
        const value = <span className="value">{valueText(row.values[i])}</span>;
        if (i === 0) return <td key={id}>{value}</td>;
        const delta = row.deltas[i - 1];
        if (delta === undefined) return <td key={id}>{value}</td>;
        return (
          <DeltaCell key={id} delta={delta} windows={[row.windows[0] ?? 0, row.windows[i] ?? 0]} rule={rule}>
            {value}
          </DeltaCell>
        );
      })}
    </tr>
  );
}

function DeltaCell({
  delta,
  windows,
  rule,
  children,
}: {
  delta: MetricDelta;
  windows: [number, number];
  rule: { threshold: string; alpha: string };
  children: ReactNode;
}) {
  const { t, intl } = useI18n();
  const tipId = useId();
  const tip = pValueText(delta, windows, rule, t, intl);
  return (
    <td className={`delta-${delta.verdict === "n/a" ? "na" : delta.verdict}`} data-verdict={delta.verdict} tabIndex={0} aria-describedby={tipId}>
      {children}
      <span className="delta">
        {delta.change !== null ? `${changeText(delta.change, intl)} ` : ""}
        <span className="verdict">{t(VERDICT_LABEL[delta.verdict])}</span>
      </span>
      <span className="tip" id={tipId} role="tooltip">
        {tip}
      </span>
    </td>
  );
}

/** The sentence behind a verdict: the p-value, over how many windows, and the rule. */
export function pValueText(delta: MetricDelta, windows: [number, number], rule: { threshold: string; alpha: string }, t: Translate, intl: string): string {
  return delta.p_value === null ? t("compare.noPValue") : t("compare.pValue", { p: formatPValue(delta.p_value, intl), a: windows[0], b: windows[1], ...rule });
}
