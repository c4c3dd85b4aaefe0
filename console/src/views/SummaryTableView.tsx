/**
 * A recording's summary as text: the figures `punktfunk stats show` prints, in real tables
 * (caption, column and row headers) that a screen reader can walk. Latencies in ms with
 * three decimals, rounded as the CLI rounds them; "n/a" for a counter no window measured.
 */
import type { CounterTotal, LatencySummary, RecordingSummary } from "../api/types";
import { formatDecimal } from "../data/decimal";
import { formatElapsed } from "../data/format";
import { msFromUs, ofTarget, readCounter, shownCounters } from "../data/summary";
import { useI18n } from "../i18n/I18nProvider";
import type { MessageKey, Translate } from "../i18n/messages";
import { Notice } from "./common";

const COUNTER_LABEL: Readonly<Record<string, MessageKey>> = {
  frames_dropped: "summary.counter.framesDropped",
  packets_dropped: "summary.counter.packetsDropped",
  send_dropped: "summary.counter.sendDropped",
  fec_recovered: "summary.counter.fecRecovered",
  audio_packets: "summary.counter.audioPackets",
  input_events: "summary.counter.inputEvents",
};

/** A counter's name in the reader's language (the field name for one this console does not know). */
export function counterLabel(name: string, t: Translate): string {
  const key = COUNTER_LABEL[name];
  return key === undefined ? name.replaceAll("_", " ") : t(key);
}

interface LatencyRow {
  key: string;
  label: string;
  latency: LatencySummary;
}

export function SummaryTableView({ summary }: { summary: RecordingSummary }) {
  const { t, intl } = useI18n();
  if (summary.windows === 0) return <Notice>{t("summary.noWindows")}</Notice>;
  const ms = (us: number | null | undefined) => (us === null || us === undefined ? t("summary.na") : formatDecimal(intl, msFromUs(us), 3));
  const num = (v: number | null, digits: number) => (v === null ? t("summary.na") : formatDecimal(intl, v, digits));

  const latency: LatencyRow[] = summary.stages.map((s) => ({ key: `stage:${s.name}`, label: s.name, latency: s }));
  if (summary.host !== null) latency.push({ key: "host", label: t("summary.hostTotal"), latency: summary.host });
  if (summary.audio !== null) latency.push({ key: "audio", label: t("summary.audioEncode"), latency: summary.audio });

  const percent = ofTarget(summary.mbps_mean, summary.target_mbps_mean);
  const figures: { key: string; label: string; value: string }[] = [
    {
      key: "fps",
      label: t("summary.fps"),
      value: t("summary.fpsValue", { fps: num(summary.fps_mean, 1), repeats: num(summary.repeat_fps_mean, 1) }),
    },
    {
      key: "bitrate",
      label: t("summary.bitrate"),
      value:
        t("summary.bitrateValue", { mbps: num(summary.mbps_mean, 2), target: num(summary.target_mbps_mean, 2) }) +
        (percent === null ? "" : ` (${formatDecimal(intl, percent, 0)} %)`),
    },
  ];
  if (summary.client_decode_us_mean !== null) {
    figures.push({ key: "client_decode", label: t("summary.clientDecode"), value: t("summary.msMean", { ms: ms(summary.client_decode_us_mean) }) });
  }
  if (summary.rtt_us_median !== null) {
    figures.push({ key: "rtt", label: t("summary.rtt"), value: t("summary.msMedian", { ms: ms(summary.rtt_us_median) }) });
  }
  for (const c of shownCounters(summary)) {
    figures.push({ key: `counter:${c.name}`, label: counterLabel(c.name, t), value: counterText(c, t, intl) });
  }

  return (
    <div className="summary">
      <div className="table-wrap">
        <table className="summary-latency">
          <caption>{t("summary.latencyCaption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("summary.stage")}</th>
              <th scope="col">p50</th>
              <th scope="col">p99</th>
              <th scope="col">{t("summary.maxP99")}</th>
              <th scope="col">{t("summary.windows")}</th>
            </tr>
          </thead>
          <tbody>
            {latency.map((r) => (
              <tr key={r.key} data-latency={r.key}>
                <th scope="row">{r.label}</th>
                <td>{ms(r.latency.p50_us)}</td>
                <td>{ms(r.latency.p99_us)}</td>
                <td>{ms(r.latency.max_p99_us)}</td>
                <td>{r.latency.windows.toLocaleString(intl)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted summary-help">
        {t("summary.latencyHelp", { n: summary.windows.toLocaleString(intl) })}
        {summary.host !== null ? ` ${t("summary.hostHelp")}` : ""}
      </p>
      <div className="table-wrap">
        <table className="summary-figures">
          <caption>{t("summary.figuresCaption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("summary.figure")}</th>
              <th scope="col">{t("summary.value")}</th>
            </tr>
          </thead>
          <tbody>
            {figures.map((f) => (
              <tr key={f.key} data-figure={f.key}>
                <th scope="row">{f.label}</th>
                <td>{f.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {summary.sessions.length > 1 ? (
        <div className="table-wrap">
          <table className="summary-sessions">
            <caption>{t("summary.sessionsCaption")}</caption>
            <thead>
              <tr>
                <th scope="col">{t("summary.session")}</th>
                <th scope="col">{t("summary.windows")}</th>
                <th scope="col">{t("summary.from")}</th>
                <th scope="col">{t("summary.to")}</th>
                <th scope="col">fps</th>
                <th scope="col">Mb/s</th>
                <th scope="col">{t("summary.hostP50")}</th>
                <th scope="col">{t("summary.hostP99")}</th>
              </tr>
            </thead>
            <tbody>
              {summary.sessions.map((s) => (
                <tr key={s.session_id} data-session={s.session_id}>
                  <th scope="row">{s.session_id}</th>
                  <td>{s.windows.toLocaleString(intl)}</td>
                  <td>{formatElapsed(s.first_t_ms)}</td>
                  <td>{formatElapsed(s.last_t_ms)}</td>
                  <td>{formatDecimal(intl, s.fps_mean, 1)}</td>
                  <td>{formatDecimal(intl, s.mbps_mean, 2)}</td>
                  <td>{ms(s.host?.p50_us)}</td>
                  <td>{ms(s.host?.p99_us)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

function counterText(c: CounterTotal, t: Translate, intl: string): string {
  const r = readCounter(c);
  switch (r.kind) {
    case "unmeasured":
      return t("summary.notMeasured");
    case "total":
      return r.total.toLocaleString(intl);
    case "partial":
      return t("summary.partial", { total: r.total.toLocaleString(intl), measured: r.measured, windows: r.windows });
  }
}
