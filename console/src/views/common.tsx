/** Small presentational pieces shared by the views. */
import type { ReactNode } from "react";
import type { ChartRegistry } from "../charts/UplotChart";
import { UplotChart } from "../charts/UplotChart";
import type { ChartModel } from "../charts/specs";
import type { TimeAxisMode } from "../charts/timeAxis";
import { useI18n } from "../i18n/I18nProvider";

export function ErrorNotice({ message }: { message: string | null }) {
  if (message === null) return null;
  return (
    <p role="alert" className="notice notice-error">
      {message}
    </p>
  );
}

export function Notice({ children, tone = "info" }: { children: ReactNode; tone?: "info" | "warn" }) {
  return <p className={`notice notice-${tone}`}>{children}</p>;
}

/** Marks a recording rebuilt from the journal after the host stopped without saving it. */
export function RecoveredTag() {
  const { t } = useI18n();
  const explanation = t("recordings.recoveredTitle");
  return (
    <span className="tag warn" title={explanation}>
      {t("recordings.recovered")}
    </span>
  );
}

export function Badge({ children, tone }: { children: ReactNode; tone: "recording" | "idle" | "native" | "gamestream" | "other" }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

export function ChartCard({
  model,
  height,
  onDrawn,
  registry,
  timeKey,
}: {
  model: ChartModel;
  height?: number;
  onDrawn?: (id: string) => void;
  registry?: ChartRegistry;
  /** `TimeAxis.key` of the view's time axis: a change redraws the axes. */
  timeKey?: string;
}) {
  return (
    <figure className="chart-card" data-chart={model.id}>
      <figcaption>
        <span className="chart-title">{model.title}</span>
        {model.notes.map((n) => (
          <span key={n} className="chart-note" data-testid="chart-note">
            {n}
          </span>
        ))}
      </figcaption>
      {model.empty ? null : (
        <UplotChart
          model={model}
          {...(height !== undefined ? { height } : {})}
          {...(onDrawn !== undefined ? { onDrawn } : {})}
          {...(registry !== undefined ? { registry } : {})}
          {...(timeKey !== undefined ? { timeKey } : {})}
        />
      )}
    </figure>
  );
}

export function Segmented<T extends string>({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: T;
  options: readonly { value: T; label: string }[];
  onChange: (value: T) => void;
}) {
  return (
    <div className="segmented" role="group" aria-label={label}>
      {options.map((o) => (
        <button key={o.value} type="button" aria-pressed={o.value === value} onClick={() => onChange(o.value)}>
          {o.label}
        </button>
      ))}
    </div>
  );
}

/** Elapsed time or clock time on the charts' time axis. */
export function TimeAxisToggle({ value, onChange }: { value: TimeAxisMode; onChange: (mode: TimeAxisMode) => void }) {
  const { t } = useI18n();
  return (
    <Segmented<TimeAxisMode>
      label={t("time.axis")}
      value={value}
      onChange={onChange}
      options={[
        { value: "elapsed", label: t("time.elapsed") },
        { value: "wall", label: t("time.wall") },
      ]}
    />
  );
}
