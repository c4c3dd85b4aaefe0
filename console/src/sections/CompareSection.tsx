/**
 * Two or more recordings overlaid, and the host's comparison of them (figures, changes and
 * significance verdicts) side by side. The two are fetched at once; either may fail alone.
 */
import { useState } from "react";
import { useApi } from "../app/auth";
import { useColorScheme } from "../app/colorScheme";
import { useLoad } from "../app/useLoad";
import type { OverlayMetric } from "../data/compare";
import type { Percentile } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import { ErrorNotice, Notice } from "../views/common";
import { CompareView } from "../views/CompareView";

export function CompareSection({ ids }: { ids: readonly string[] }) {
  const api = useApi();
  const { t } = useI18n();
  const scheme = useColorScheme();
  const [metric, setMetric] = useState<OverlayMetric>({ kind: "stagesTotal" });
  const [pct, setPct] = useState<Percentile>("p50");
  const key = ids.join(",");
  const wanted = key.split(",").filter((s) => s !== "");
  const { data: captures, error } = useLoad(() => Promise.all(wanted.map((id) => api.get(id))), [api, key]);
  const { data: comparison, error: comparisonError } = useLoad(
    wanted.length < 2 ? null : () => api.compare(wanted),
    [api, key],
  );

  if (ids.length < 2) return <Notice>{t("compare.pickTwo")}</Notice>;
  if (error !== null) return <ErrorNotice message={error} />;
  if (captures === null) return <Notice>{t("common.loading")}</Notice>;
  return (
    <CompareView
      captures={captures}
      metric={metric}
      pct={pct}
      scheme={scheme}
      onMetricChange={setMetric}
      onPctChange={setPct}
      comparison={comparison}
      comparisonError={comparisonError}
    />
  );
}
