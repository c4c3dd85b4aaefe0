import type { ChartRegistry } from "../charts/UplotChart";
import type { ChartModel } from "../charts/specs";
import type { TimeAxisMode } from "../charts/timeAxis";
import { useI18n } from "../i18n/I18nProvider";
import { ChartCard, ErrorNotice, Notice, TimeAxisToggle } from "./common";

export interface LiveChartsViewProps {
  models: readonly ChartModel[];
  samples: number;
  error: string | null;
  registry?: ChartRegistry;
  onDrawn?: (id: string) => void;
  /** Elapsed or clock time on the time axis (labels only: the charts stay). */
  timeMode?: TimeAxisMode;
  /** `TimeAxis.key` of the charts' time axis. */
  timeKey?: string;
  onTimeModeChange?: (mode: TimeAxisMode) => void;
}

export function LiveChartsView({ models, samples, error, registry, onDrawn, timeMode, timeKey, onTimeModeChange }: LiveChartsViewProps) {
  const { t } = useI18n();
  return (
    <section className="card live" aria-labelledby="live-title">
      <div className="card-head">
        <h2 id="live-title">{t("live.title")}</h2>
        <span className="muted">{t("live.every")}</span>
        {timeMode !== undefined && onTimeModeChange !== undefined ? <TimeAxisToggle value={timeMode} onChange={onTimeModeChange} /> : null}
      </div>
      <ErrorNotice message={error} />
      {samples === 0 ? <Notice>{t("live.waiting")}</Notice> : null}
      <div className="chart-grid">
        {samples === 0
          ? null
          : models.map((m) => (
              <ChartCard
                key={m.id}
                model={m}
                height={200}
                {...(registry !== undefined ? { registry } : {})}
                {...(onDrawn !== undefined ? { onDrawn } : {})}
                {...(timeKey !== undefined ? { timeKey } : {})}
              />
            ))}
      </div>
    </section>
  );
}
