/** One saved recording: load it, draw the full chart set, download it. */
import { useCallback, useEffect, useState } from "react";
import type { CaptureColumns, ExportFormat } from "../api/types";
import { useApi } from "../app/auth";
import { useColorScheme } from "../app/colorScheme";
import { errorMessage } from "../app/errors";
import { perf } from "../app/perf";
import { saveBlob } from "../app/saveBlob";
import type { Percentile } from "../data/timeline";
import { useI18n } from "../i18n/I18nProvider";
import { ErrorNotice, Notice } from "../views/common";
import { RecordingDetailView } from "../views/RecordingDetailView";

export function RecordingDetailSection({ id }: { id: string }) {
  const api = useApi();
  const { t } = useI18n();
  const scheme = useColorScheme();
  // Already here on a deep link (boot.ts fetched it): the first render draws the charts.
  const [recording, setRecording] = useState<CaptureColumns | null>(() => api.loadedColumns(id) ?? null);
  const [error, setError] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [mode, setMode] = useState<Percentile>("p50");

  const haveIt = recording !== null && recording.meta.id === id;
  useEffect(() => {
    if (haveIt) return undefined;
    let cancelled = false;
    setError(null);
    api.columns(id).then(
      (c) => {
        performance.mark("pf:detail-fetched");
        if (!cancelled) setRecording(c);
      },
      (err: unknown) => {
        if (!cancelled) setError(errorMessage(err, t));
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api, id, t, haveIt]);

  const onAllChartsDrawn = useCallback(
    ({ at, charts }: { at: number; charts: number }) => {
      perf().detailDrawn.push({ id, at, samples: recording?.t_ms.length ?? 0, charts });
    },
    [id, recording],
  );

  const onDownload = (format: ExportFormat) => {
    setActionError(null);
    api.exportFile(id, format).then(
      (file) => saveBlob(file.blob, file.filename),
      (err: unknown) => setActionError(errorMessage(err, t)),
    );
  };

  if (error !== null) return <ErrorNotice message={error} />;
  if (recording === null) return <Notice>{t("common.loading")}</Notice>;
  return (
    <RecordingDetailView
      recording={recording}
      mode={mode}
      scheme={scheme}
      onModeChange={setMode}
      onDownload={onDownload}
      error={actionError}
      onAllChartsDrawn={onAllChartsDrawn}
    />
  );
}
