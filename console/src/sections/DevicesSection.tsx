/**
 * The Devices page: GameStream's status polled while the page is open (the PIN box shows
 * while a Moonlight client waits), the PIN hand-over, and the paired clients.
 *
 * The paired list is fetched when the page opens, on Refresh, whenever a waiting client
 * stops waiting (it paired or gave up, possibly through `punktfunk pair` elsewhere), and
 * on every poll while a PIN just sent is being finished by the client (see data/pairing).
 */
import { useCallback, useRef, useState } from "react";
import type { GameStreamClient, GameStreamStatus } from "../api/types";
import { useApi } from "../app/auth";
import { errorMessage } from "../app/errors";
import { usePoll } from "../app/usePoll";
import { pairingStep, pendingPairing, type PairingOutcome, type PendingPairing } from "../data/pairing";
import { useI18n } from "../i18n/I18nProvider";
import { PairedClientsView, PairingView, type PinForm } from "../views/DevicesView";

export const STATUS_POLL_MS = 1500;

export function DevicesSection() {
  const api = useApi();
  const { t } = useI18n();
  const [status, setStatus] = useState<GameStreamStatus | null>(null);
  const [statusError, setStatusError] = useState<string | null>(null);
  const [clients, setClients] = useState<GameStreamClient[] | null>(null);
  const [clientsError, setClientsError] = useState<string | null>(null);
  const [form, setForm] = useState<PinForm>({ pin: "", name: "", busy: false, error: null });
  const [outcome, setOutcome] = useState<PairingOutcome | null>(null);
  const [confirmUnpair, setConfirmUnpair] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());

  const pending = useRef<PendingPairing | null>(null);
  const wasWaiting = useRef(false);
  const listed = useRef<GameStreamClient[] | null>(null);

  const loadClients = useCallback(async (): Promise<GameStreamClient[]> => {
    const list = await api.pairedClients();
    listed.current = list;
    setClients(list);
    setClientsError(null);
    return list;
  }, [api]);

  const poke = usePoll(async (stopped) => {
    let next: GameStreamStatus;
    try {
      next = await api.gamestreamStatus();
    } catch (err: unknown) {
      if (!stopped()) setStatusError(errorMessage(err, t));
      return;
    }
    if (stopped()) return;
    setStatus(next);
    setStatusError(null);
    const stoppedWaiting = wasWaiting.current && !next.waiting;
    if (!wasWaiting.current && next.waiting) {
      // A new pairing attempt: what was said about the last one no longer applies.
      setForm((f) => ({ ...f, error: null }));
      setOutcome(null);
    }
    wasWaiting.current = next.waiting;
    if (!next.enabled) {
      listed.current = null;
      setClients(null);
      return;
    }
    if (listed.current !== null && !stoppedWaiting && pending.current === null) return;
    try {
      const list = await loadClients();
      if (stopped() || pending.current === null) return;
      const step = pairingStep(pending.current, list, Date.now());
      pending.current = step.pending;
      if (step.outcome !== null) setOutcome(step.outcome);
    } catch (err: unknown) {
      if (!stopped()) setClientsError(errorMessage(err, t));
    }
  }, STATUS_POLL_MS);

  const onSubmit = useCallback(async () => {
    setForm((f) => ({ ...f, busy: true, error: null }));
    setOutcome(null);
    try {
      const before = listed.current ?? (await loadClients());
      const client = status?.client_name ?? t("devices.aClient");
      await api.submitPin(form.pin.trim(), form.name.trim());
      pending.current = pendingPairing(before, client, Date.now());
      setOutcome({ kind: "sent", client });
      setForm({ pin: "", name: "", busy: false, error: null });
    } catch (err: unknown) {
      setForm((f) => ({ ...f, busy: false, error: errorMessage(err, t) }));
    }
    poke();
  }, [api, form.pin, form.name, loadClients, poke, status, t]);

  const onUnpair = useCallback(
    async (id: string) => {
      setBusy((b) => new Set(b).add(id));
      try {
        await api.unpair(id);
        setConfirmUnpair(null);
        const rest = (listed.current ?? []).filter((c) => c.id !== id);
        listed.current = rest;
        setClients(rest);
        setClientsError(null);
      } catch (err: unknown) {
        setClientsError(errorMessage(err, t));
      } finally {
        setBusy((b) => {
          const next = new Set(b);
          next.delete(id);
          return next;
        });
      }
    },
    [api, t],
  );

  const onRefresh = useCallback(() => {
    loadClients().catch((err: unknown) => setClientsError(errorMessage(err, t)));
    poke();
  }, [loadClients, poke, t]);

  return (
    <>
      <PairingView
        status={status}
        error={statusError}
        form={form}
        outcome={outcome}
        onPinChange={(pin) => setForm((f) => ({ ...f, pin }))}
        onNameChange={(name) => setForm((f) => ({ ...f, name }))}
        onSubmit={() => void onSubmit()}
      />
      {status !== null && !status.enabled ? null : (
        <PairedClientsView
          clients={clients}
          error={clientsError}
          confirmUnpair={confirmUnpair}
          busy={busy}
          onRefresh={onRefresh}
          onAskUnpair={setConfirmUnpair}
          onCancelUnpair={() => setConfirmUnpair(null)}
          onUnpair={(id) => void onUnpair(id)}
        />
      )}
    </>
  );
}
