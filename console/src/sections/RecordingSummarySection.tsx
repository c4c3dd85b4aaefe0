/**
 * A recording's summary from the host (`GET …/summary`), as text tables under its
 * header. Fetched once the recording is on screen, so it never delays the charts.
 */
import { useId } from "react";
import { useApi } from "../app/auth";
import { useLoad } from "../app/useLoad";
import { useI18n } from "../i18n/I18nProvider";
import { ErrorNotice, Notice } from "../views/common";
import { SummaryTableView } from "../views/SummaryTableView";

export function RecordingSummarySection({ id }: { id: string }) {
  const api = useApi();
  const { t } = useI18n();
  const headingId = useId();
  const { data: summary, error } = useLoad(() => api.summary(id), [api, id]);

  return (
    <section className="card summary-card" aria-labelledby={headingId} aria-busy={summary === null && error === null}>
      <h2 id={headingId}>{t("summary.title")}</h2>
      <ErrorNotice message={error} />
      {summary !== null && summary.id === id ? <SummaryTableView summary={summary} /> : error === null ? <Notice>{t("common.loading")}</Notice> : null}
    </section>
  );
}
