import type { CaptureMeta, StatsStatus } from "../api/types";
import { Link } from "../app/router";
import { formatElapsed } from "../data/format";
import { useI18n } from "../i18n/I18nProvider";
import { Badge, ErrorNotice, Notice } from "./common";

export interface CaptureControlViewProps {
  /** null until the first status arrived. */
  status: StatsStatus | null;
  busy: "start" | "stop" | null;
  /** A failed action's error and the status poll's error, each shown when present. */
  errors: readonly (string | null)[];
  lastSaved: CaptureMeta | null;
  /** Stop answered 204: nothing was recording. */
  nothingToSave: boolean;
  onStart: () => void;
  onStop: () => void;
}

export function CaptureControlView({ status, busy, errors, lastSaved, nothingToSave, onStart, onStop }: CaptureControlViewProps) {
  const { t, intl } = useI18n();
  const armed = status?.armed ?? false;
  return (
    <section className="card capture-control" aria-labelledby="capture-title">
      <div className="card-head">
        <h2 id="capture-title">{t("capture.title")}</h2>
        {status === null ? null : armed ? (
          <Badge tone="recording">{t("capture.recording")}</Badge>
        ) : (
          <Badge tone="idle">{t("capture.idle")}</Badge>
        )}
      </div>
      <dl className="facts" aria-live="polite">
        <div>
          <dt>{t("capture.elapsed")}</dt>
          <dd data-testid="elapsed">{armed && status !== null ? formatElapsed(status.elapsed_ms) : "—"}</dd>
        </div>
        <div>
          <dt>{t("capture.samples")}</dt>
          <dd data-testid="sample-count">{armed && status !== null ? status.sample_count.toLocaleString(intl) : "—"}</dd>
        </div>
        <div>
          <dt>{t("capture.path")}</dt>
          <dd>{armed && status !== null && status.kind !== "" ? status.kind : "—"}</dd>
        </div>
      </dl>
      {armed && status?.truncated ? <Notice tone="warn">{t("capture.truncated")}</Notice> : null}
      <div className="actions">
        {armed ? (
          <button type="button" className="primary danger" onClick={onStop} disabled={busy !== null}>
            {busy === "stop" ? t("capture.stopping") : t("capture.stop")}
          </button>
        ) : (
          <button type="button" className="primary" onClick={onStart} disabled={busy !== null || status === null}>
            {busy === "start" ? t("capture.starting") : t("capture.start")}
          </button>
        )}
      </div>
      {errors.map((e, i) => (
        <ErrorNotice key={i} message={e} />
      ))}
      {lastSaved !== null && !armed ? (
        <p className="notice notice-ok" role="status">
          {t("capture.saved", { samples: lastSaved.sample_count })}{" "}
          <Link to={{ name: "recording", id: lastSaved.id }}>{t("capture.viewSaved")}</Link>
        </p>
      ) : null}
      {nothingToSave && !armed ? (
        <p className="notice notice-info" role="status">
          {t("capture.nothingToSave")}
        </p>
      ) : null}
    </section>
  );
}
