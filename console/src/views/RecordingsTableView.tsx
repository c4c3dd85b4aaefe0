import type { CaptureMeta, ExportFormat } from "../api/types";
import { focusOnMount } from "../app/focus";
import { Link } from "../app/router";
import { formatDateTime, formatElapsed, resolutionLabel } from "../data/format";
import { useI18n } from "../i18n/I18nProvider";
import { Badge, ErrorNotice, Notice, RecoveredTag } from "./common";

export interface RecordingsTableViewProps {
  recordings: readonly CaptureMeta[] | null;
  error: string | null;
  /** Ids picked for comparison, in the order picked (the first is the baseline). */
  selected: readonly string[];
  confirmDelete: string | null;
  busy: ReadonlySet<string>;
  onRefresh: () => void;
  onToggleSelect: (id: string) => void;
  onCompare: () => void;
  onDownload: (id: string, format: ExportFormat) => void;
  onAskDelete: (id: string) => void;
  onCancelDelete: () => void;
  onDelete: (id: string) => void;
}

export function kindTone(kind: string): "native" | "gamestream" | "other" {
  return kind === "native" || kind === "gamestream" ? kind : "other";
}

export function RecordingsTableView(props: RecordingsTableViewProps) {
  const { recordings, error, selected, confirmDelete, busy } = props;
  const { t, intl } = useI18n();
  return (
    <section className="card recordings" aria-labelledby="recordings-title">
      <div className="card-head">
        <h2 id="recordings-title">{t("recordings.title")}</h2>
        <div className="actions">
          <button type="button" onClick={props.onCompare} disabled={selected.length < 2}>
            {t("recordings.compare", { n: selected.length })}
          </button>
          <button type="button" onClick={props.onRefresh}>
            {t("recordings.refresh")}
          </button>
        </div>
      </div>
      <ErrorNotice message={error} />
      {recordings === null && error === null ? <Notice>{t("common.loading")}</Notice> : null}
      {recordings !== null && recordings.length === 0 ? <Notice>{t("recordings.empty")}</Notice> : null}
      {recordings !== null && recordings.length > 0 ? (
        <div className="table-wrap">
          <table className="recordings-table">
            <thead>
              <tr>
                <th scope="col">
                  <span className="visually-hidden">{t("recordings.select")}</span>
                </th>
                <th scope="col">{t("recordings.time")}</th>
                <th scope="col">{t("recordings.path")}</th>
                <th scope="col">{t("recordings.resolution")}</th>
                <th scope="col">{t("recordings.codec")}</th>
                <th scope="col">{t("recordings.encoder")}</th>
                <th scope="col">{t("recordings.duration")}</th>
                <th scope="col">{t("recordings.samples")}</th>
                <th scope="col">{t("recordings.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {recordings.map((r) => {
                const pick = selected.indexOf(r.id);
                const when = formatDateTime(intl, r.started_unix_ms);
                return (
                  <tr key={r.id} data-recording-id={r.id}>
                    <td data-label={t("recordings.select")}>
                      <input
                        type="checkbox"
                        checked={pick >= 0}
                        onChange={() => props.onToggleSelect(r.id)}
                        aria-label={t("recordings.selectOne", { when })}
                      />
                      {pick >= 0 ? <span className="pick-letter">{String.fromCharCode(65 + pick)}</span> : null}
                    </td>
                    <td data-label={t("recordings.time")}>
                      <time dateTime={new Date(r.started_unix_ms).toISOString()}>{when}</time>
                      {r.truncated ? <span className="tag warn">{t("recordings.truncated")}</span> : null}
                      {r.recovered ? <RecoveredTag /> : null}
                    </td>
                    <td data-label={t("recordings.path")}>
                      <Badge tone={kindTone(r.kind)}>{r.kind === "" ? t("recordings.noSession") : r.kind}</Badge>
                      {r.sessions > 1 ? <span className="tag">{t("recordings.sessionsTag", { n: r.sessions })}</span> : null}
                    </td>
                    <td data-label={t("recordings.resolution")}>{resolutionLabel(r)}</td>
                    <td data-label={t("recordings.codec")}>{r.codec || "—"}</td>
                    <td data-label={t("recordings.encoder")}>{r.encoder || "—"}</td>
                    <td data-label={t("recordings.duration")}>{formatElapsed(r.duration_ms)}</td>
                    <td data-label={t("recordings.samples")}>{r.sample_count.toLocaleString(intl)}</td>
                    <td data-label={t("recordings.actions")} className="row-actions">
                      {confirmDelete === r.id ? (
                        <span className="confirm" role="group" aria-label={t("recordings.confirmDelete")}>
                          <span>{t("recordings.confirmDelete")}</span>
                          <button type="button" className="danger" onClick={() => props.onDelete(r.id)} disabled={busy.has(r.id)}>
                            {t("recordings.deleteYes")}
                          </button>
                          <button type="button" onClick={props.onCancelDelete} ref={focusOnMount}>
                            {t("common.cancel")}
                          </button>
                        </span>
                      ) : (
                        <>
                          <Link to={{ name: "recording", id: r.id }} className="button" label={t("recordings.viewOf", { when })}>
                            {t("recordings.view")}
                          </Link>
                          <button type="button" onClick={() => props.onDownload(r.id, "json")} disabled={busy.has(r.id)} aria-label={t("recordings.downloadOf", { format: "JSON", when })}>
                            {t("recordings.downloadJson")}
                          </button>
                          <button type="button" onClick={() => props.onDownload(r.id, "csv")} disabled={busy.has(r.id)} aria-label={t("recordings.downloadOf", { format: "CSV", when })}>
                            {t("recordings.downloadCsv")}
                          </button>
                          <button type="button" className="danger" onClick={() => props.onAskDelete(r.id)} disabled={busy.has(r.id)} aria-label={t("recordings.deleteOf", { when })}>
                            {t("recordings.delete")}
                          </button>
                        </>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
