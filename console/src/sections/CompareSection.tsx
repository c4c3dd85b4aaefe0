/**
 * Two or more recordings overlaid, and the host's comparison of them (figures, changes and
 * significance verdicts) side by side. The two are fetched at once; either may fail alone.
 */
import { useEffect, useState } from "react";
import type { Capture, Comparison } from "../api/types";
import { useApi } from "../app/auth";
import { useColorScheme } from "../app/colorScheme";
import { errorMessage } from "../app/errors";
import type { OverlayMetric } from "../data/compare";
import type { Percentile } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import { ErrorNotice, Notice } from "../views/common";
import { CompareView } from "../views/CompareView";

export function CompareSection({ ids }: { ids: readonly string[] }) {
  const api = useApi();
  const { t } = useI18n();
  const scheme = useColorScheme();
  const [captures, setCaptures] = useState<Capture[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [comparisonError, setComparisonError] = useState<string | null>(null);
  const [metric, setMetric] = useState<OverlayMetric>({ kind: "stagesTotal" });
  const [pct, setPct] = useState<Percentile>("p50");
  const key = ids.join(",");

  useEffect(() => {
    let cancelled = false;
    setCaptures(null);
    setError(null);
    const wanted = key.split(",").filter((s) => s !== "");
    Promise.all(wanted.map((id) => api.get(id))).then(
      (list) => {
        if (!cancelled) setCaptures(list);
      },
      (err: unknown) => {
        if (!cancelled) setError(errorMessage(err, t));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, key, t]);

  useEffect(() => {
    let cancelled = false;
    setComparison(null);
    setComparisonError(null);
    const wanted = key.split(",").filter((s) => s !== "");
    if (wanted.length < 2) return undefined;
    api.compare(wanted).then(
      (c) => {
        if (!cancelled) setComparison(c);
      },
      (err: unknown) => {
        if (!cancelled) setComparisonError(errorMessage(err, t));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, key, t]);

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
