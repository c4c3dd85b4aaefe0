/** The saved recordings: list, pick for comparison, download, delete. */
import { useCallback, useEffect, useState } from "react";
import type { CaptureMeta, ExportFormat } from "../api/types";
import { useApi } from "../app/auth";
import { errorMessage } from "../app/errors";
import { navigate, routeHref } from "../app/router";
import { saveBlob } from "../app/saveBlob";
import { useI18n } from "../i18n/I18nProvider";
import { RecordingsTableView } from "../views/RecordingsTableView";

export function RecordingsSection({ version }: { version: number }) {
  const api = useApi();
  const { t } = useI18n();
  const [recordings, setRecordings] = useState<CaptureMeta[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string[]>([]);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(new Set());
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let cancelled = false;
    api.list().then(
      (list) => {
        if (cancelled) return;
        setRecordings(list);
        setError(null);
        // Forget picks of recordings that are gone.
        setSelected((sel) => sel.filter((id) => list.some((r) => r.id === id)));
      },
      (err: unknown) => {
        if (!cancelled) setError(errorMessage(err, t));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, t, version, reload]);

  const withBusy = useCallback(async (id: string, work: () => Promise<void>) => {
    setBusy((b) => new Set(b).add(id));
    try {
      await work();
    } catch (err: unknown) {
      setError(errorMessage(err, t));
    } finally {
      setBusy((b) => {
        const next = new Set(b);
        next.delete(id);
        return next;
      });
    }
  }, [t]);

  const onDownload = (id: string, format: ExportFormat) =>
    void withBusy(id, async () => {
      const file = await api.exportFile(id, format);
      saveBlob(file.blob, file.filename);
    });

  const onDelete = (id: string) =>
    void withBusy(id, async () => {
      await api.remove(id);
      setConfirmDelete(null);
      setSelected((sel) => sel.filter((s) => s !== id));
      setRecordings((list) => list?.filter((r) => r.id !== id) ?? null);
      setError(null);
    });

  return (
    <RecordingsTableView
      recordings={recordings}
      error={error}
      selected={selected}
      confirmDelete={confirmDelete}
      busy={busy}
      onRefresh={() => setReload((r) => r + 1)}
      onToggleSelect={(id) => setSelected((sel) => (sel.includes(id) ? sel.filter((s) => s !== id) : [...sel, id]))}
      onCompare={() => navigate(routeHref({ name: "compare", ids: selected }))}
      onDownload={onDownload}
      onAskDelete={setConfirmDelete}
      onCancelDelete={() => setConfirmDelete(null)}
      onDelete={onDelete}
    />
  );
}
