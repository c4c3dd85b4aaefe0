// Views render from props: fixture data in, markup out (server-rendered: no canvas here;
// the browser tests check the drawn charts).
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { StaticI18n } from "../src/i18n/I18nProvider";
import type { Locale } from "../src/i18n/messages";
import { CaptureControlView } from "../src/views/CaptureControlView";
import { CompareView } from "../src/views/CompareView";
import { RecordingDetailView } from "../src/views/RecordingDetailView";
import { RecordingsTableView } from "../src/views/RecordingsTableView";
import { capture, meta, sample, series } from "./fixtures";
import type { ReactNode } from "react";

const render = (node: ReactNode, locale: Locale = "en") =>
  renderToStaticMarkup(<StaticI18n locale={locale}>{node}</StaticI18n>);
const noop = () => undefined;

describe("RecordingDetailView", () => {
  it("says when a recording was truncated at the sample cap", () => {
    const html = render(
      <RecordingDetailView capture={capture(series(3), { truncated: true })} mode="p50" scheme="light" onModeChange={noop} />,
    );
    expect(html).toContain("hit the sample limit");
    expect(html).toContain("Where the time goes");
    expect(html).toContain("Not measured on this path: packets dropped, FEC recovered");
  });

  it("shows an empty recording as a notice without charts", () => {
    const html = render(<RecordingDetailView capture={capture([], { kind: "", width: 0, height: 0, fps: 0 })} mode="p50" scheme="dark" onModeChange={noop} />);
    expect(html).toContain("This recording has no samples");
    expect(html).not.toContain("chart-card");
    expect(html).toContain("no session");
  });

  it("explains separate sessions", () => {
    const html = render(
      <RecordingDetailView
        capture={capture([sample(1000, { session_id: 1 }), sample(9000, { session_id: 2 })])}
        mode="p99"
        scheme="light"
        onModeChange={noop}
      />,
    );
    expect(html).toContain("2 sessions recorded into this capture, one after another");
    expect(html).toContain("(p99)");
  });
});

describe("RecordingsTableView", () => {
  const props = {
    error: null,
    selected: ["b"],
    confirmDelete: null,
    busy: new Set<string>(),
    onRefresh: noop,
    onToggleSelect: noop,
    onCompare: noop,
    onDownload: noop,
    onAskDelete: noop,
    onCancelDelete: noop,
    onDelete: noop,
  };

  it("lists recordings with their path badge, mode and actions", () => {
    const html = render(<RecordingsTableView {...props} recordings={[meta({ id: "a" }), meta({ id: "b", kind: "gamestream", truncated: true })]} />);
    expect(html).toContain("1280×720@60");
    expect(html).toContain("badge-gamestream");
    expect(html).toContain("truncated");
    expect(html).toContain('href="/recordings/a"');
    expect(html).toContain("Compare selected (1)");
  });

  it("asks before deleting", () => {
    const html = render(<RecordingsTableView {...props} confirmDelete="a" recordings={[meta({ id: "a" })]} />);
    expect(html).toContain("Delete this recording for good?");
  });

  it("renders in German", () => {
    const html = render(<RecordingsTableView {...props} recordings={[]} />, "de");
    expect(html).toContain("Noch keine Aufzeichnungen");
  });
});

describe("CaptureControlView", () => {
  it("shows the host's elapsed time and sample count while recording", () => {
    const status = { armed: true, sample_count: 42, started_unix_ms: 1, kind: "native", elapsed_ms: 84_500, truncated: false };
    const html = render(
      <CaptureControlView status={status} busy={null} errors={[]} lastSaved={null} nothingToSave={false} onStart={noop} onStop={noop} />,
    );
    expect(html).toContain("Recording…");
    expect(html).toContain("1:24");
    expect(html).toContain(">42<");
    expect(html).toContain("Stop &amp; save");
  });

  it("shows errors instead of swallowing them", () => {
    const html = render(
      <CaptureControlView status={null} busy={null} errors={["The host answered 500: disk full", null]} lastSaved={null} nothingToSave={false} onStart={noop} onStop={noop} />,
    );
    expect(html).toContain('role="alert"');
    expect(html).toContain("disk full");
  });
});

describe("CompareView", () => {
  it("renders the summary with the baseline and verdicts", () => {
    const slow = series(3).map((s) => ({ ...s, stages: s.stages.map((st) => ({ ...st, p50_us: st.p50_us * 2 })) }));
    const html = render(
      <CompareView
        captures={[capture(series(3), { id: "a" }), capture(slow, { id: "b" })]}
        metric={{ kind: "stagesTotal" }}
        pct="p50"
        scheme="light"
        onMetricChange={noop}
        onPctChange={noop}
      />,
    );
    expect(html).toContain("A (baseline)");
    expect(html).toContain('data-verdict="worse"');
    expect(html).toContain("+100.0 %");
  });
});
