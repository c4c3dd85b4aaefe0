/**
 * The Devices page's views: GameStream's status with the PIN box (shown only while a
 * Moonlight client waits for its PIN), and the paired clients with Unpair behind a confirm.
 */
import type { FormEvent } from "react";
import type { GameStreamClient, GameStreamStatus } from "../api/types";
import { focusOnMount } from "../app/focus";
import { formatDateTime } from "../data/format";
import { shortId, type PairingOutcome } from "../data/pairing";
import { useI18n } from "../i18n/I18nProvider";
import { Badge, ErrorNotice, Notice } from "./common";

export interface PinForm {
  pin: string;
  name: string;
  busy: boolean;
  /** The host's answer to a refused PIN (409, 400), or a network error; shown until the
   * next submission or the next client that waits. */
  error: string | null;
}

export interface PairingViewProps {
  /** null until the first status arrived. */
  status: GameStreamStatus | null;
  error: string | null;
  form: PinForm;
  outcome: PairingOutcome | null;
  onPinChange: (pin: string) => void;
  onNameChange: (name: string) => void;
  onSubmit: () => void;
}

export function PairingView({ status, error, form, outcome, onPinChange, onNameChange, onSubmit }: PairingViewProps) {
  const { t } = useI18n();
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    onSubmit();
  };
  const waiting = status !== null && status.enabled && status.waiting;
  const clientName = status?.client_name ?? t("devices.aClient");
  return (
    <section className="card gamestream" aria-labelledby="gamestream-title">
      <div className="card-head">
        <h2 id="gamestream-title">{t("devices.gamestream")}</h2>
        {status === null ? null : status.enabled ? (
          <Badge tone="gamestream">{t("devices.on")}</Badge>
        ) : (
          <Badge tone="idle">{t("devices.off")}</Badge>
        )}
      </div>
      <ErrorNotice message={error} />
      {status === null && error === null ? <Notice>{t("common.loading")}</Notice> : null}
      {status !== null && !status.enabled ? <Notice tone="warn">{t("devices.disabled")}</Notice> : null}
      {status !== null && status.enabled ? (
        <dl className="facts">
          <div>
            <dt>{t("devices.httpPort")}</dt>
            <dd data-testid="http-port">{status.http_port ?? "—"}</dd>
          </div>
          <div>
            <dt>{t("devices.httpsPort")}</dt>
            <dd data-testid="https-port">{status.https_port ?? "—"}</dd>
          </div>
        </dl>
      ) : null}
      <div aria-live="polite" className="pairing">
        {waiting ? (
          <form className="pin-box" onSubmit={submit} noValidate aria-labelledby="pin-title">
            <h3 id="pin-title">{t("devices.pinTitle")}</h3>
            <p>{t("devices.pinHelp", { client: clientName })}</p>
            <div className="pin-fields">
              <label className="field">
                <span>{t("devices.pin")}</span>
                <input
                  className="pin-input"
                  name="pin"
                  inputMode="numeric"
                  autoComplete="off"
                  spellcheck={false}
                  maxLength={4}
                  value={form.pin}
                  onChange={(e) => onPinChange(e.currentTarget.value)}
                  ref={focusOnMount}
                />
              </label>
              <label className="field">
                <span>{t("devices.name")}</span>
                <input
                  name="name"
                  autoComplete="off"
                  maxLength={64}
                  placeholder={status.client_name ?? ""}
                  value={form.name}
                  onChange={(e) => onNameChange(e.currentTarget.value)}
                />
              </label>
              <button type="submit" className="primary" disabled={form.busy}>
                {form.busy ? t("devices.pairing") : t("devices.pair")}
              </button>
            </div>
          </form>
        ) : null}
        {/* Outside the box: a 409 (the client gave up meanwhile) hides the box. */}
        <ErrorNotice message={form.error} />
        {!waiting && status !== null && status.enabled && outcome === null ? (
          <p className="muted">{t("devices.howToPair")}</p>
        ) : null}
        <Outcome outcome={outcome} />
      </div>
    </section>
  );
}

function Outcome({ outcome }: { outcome: PairingOutcome | null }) {
  const { t } = useI18n();
  if (outcome === null) return null;
  switch (outcome.kind) {
    case "sent":
      return (
        <p className="notice notice-info" role="status">
          {t("devices.sent", { client: outcome.client })}
        </p>
      );
    case "paired":
      return (
        <p className="notice notice-ok" role="status">
          {t("devices.paired", { name: outcome.name })}
        </p>
      );
    case "timeout":
      return <Notice tone="warn">{t("devices.timeout", { client: outcome.client })}</Notice>;
  }
}

export interface PairedClientsViewProps {
  /** null until loaded (and while GameStream is off). */
  clients: readonly GameStreamClient[] | null;
  error: string | null;
  confirmUnpair: string | null;
  busy: ReadonlySet<string>;
  onRefresh: () => void;
  onAskUnpair: (id: string) => void;
  onCancelUnpair: () => void;
  onUnpair: (id: string) => void;
}

export function PairedClientsView(props: PairedClientsViewProps) {
  const { clients, error, confirmUnpair, busy } = props;
  const { t, intl } = useI18n();
  return (
    <section className="card paired" aria-labelledby="paired-title">
      <div className="card-head">
        <h2 id="paired-title">{t("devices.paired.title")}</h2>
        <div className="actions">
          <button type="button" onClick={props.onRefresh}>
            {t("recordings.refresh")}
          </button>
        </div>
      </div>
      <ErrorNotice message={error} />
      {clients === null && error === null ? <Notice>{t("common.loading")}</Notice> : null}
      {clients !== null && clients.length === 0 ? <Notice>{t("devices.paired.empty")}</Notice> : null}
      {clients !== null && clients.length > 0 ? (
        <div className="table-wrap">
          <table className="paired-table">
            <thead>
              <tr>
                <th scope="col">{t("devices.paired.name")}</th>
                <th scope="col">{t("devices.paired.since")}</th>
                <th scope="col">{t("devices.paired.id")}</th>
                <th scope="col">{t("recordings.actions")}</th>
              </tr>
            </thead>
            <tbody>
              {clients.map((c) => (
                <tr key={c.id} data-client-id={c.id}>
                  <th scope="row" data-label={t("devices.paired.name")}>
                    {c.name}
                  </th>
                  <td data-label={t("devices.paired.since")}>
                    <time dateTime={new Date(c.paired_unix_ms).toISOString()}>{formatDateTime(intl, c.paired_unix_ms)}</time>
                  </td>
                  <td data-label={t("devices.paired.id")}>
                    <code title={c.id}>{shortId(c.id)}</code>
                  </td>
                  <td data-label={t("recordings.actions")} className="row-actions">
                    {confirmUnpair === c.id ? (
                      <span className="confirm" role="group" aria-label={t("devices.confirmUnpair", { name: c.name })}>
                        <span>{t("devices.confirmUnpair", { name: c.name })}</span>
                        <button type="button" className="danger" onClick={() => props.onUnpair(c.id)} disabled={busy.has(c.id)}>
                          {t("devices.unpairYes")}
                        </button>
                        <button type="button" onClick={props.onCancelUnpair} ref={focusOnMount}>
                          {t("common.cancel")}
                        </button>
                      </span>
                    ) : (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => props.onAskUnpair(c.id)}
                        disabled={busy.has(c.id)}
                        aria-label={t("devices.unpairOf", { name: c.name })}
                      >
                        {t("devices.unpair")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
