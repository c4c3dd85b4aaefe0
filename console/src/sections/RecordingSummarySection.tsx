/**
 * A recording's summary from the host (`GET …/summary`), as text tables under its
 * header. Fetched once the recording is on screen, so it never delays the charts.
 */
import { useEffect, useId, useState } from "react";
import type { RecordingSummary } from "../api/types";
import { useApi } from "../app/auth";
import { errorMessage } from "../app/errors";
import { useI18n } from "../i18n/I18nProvider";
import { ErrorNotice, Notice } from "../views/common";
import { SummaryTableView } from "../views/SummaryTableView";

export function RecordingSummarySection({ id }: { id: string }) {
  const api = useApi();
  const { t } = useI18n();
  const headingId = useId();
  const [summary, setSummary] = useState<RecordingSummary | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let cancelled = false;
    setSummary(null);
    setError(null);
    api.summary(id).then(
      (s) => {
        if (!cancelled) setSummary(s);
      },
      (err: unknown) => {
        if (!cancelled) setError(errorMessage(err, t));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, id, t]);

  return (
    <section className="card summary-card" aria-labelledby={headingId} aria-busy={summary === null && error === null}>
      <h2 id={headingId}>{t("summary.title")}</h2>
      <ErrorNotice message={error} />
      {summary !== null && summary.id === id ? <SummaryTableView summary={summary} /> : error === null ? <Notice>{t("common.loading")}</Notice> : null}
    </section>
  );
}
