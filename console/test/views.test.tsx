// Views render from props: fixture data in, markup out (server-rendered: no canvas here;
// the browser tests check the drawn charts).
import { renderToStaticMarkup } from "preact-render-to-string";
import { describe, expect, it } from "vitest";
import { StaticI18n } from "../src/i18n/I18nProvider";
import type { Locale } from "../src/i18n/messages";
import { CaptureControlView } from "../src/views/CaptureControlView";
import { PairedClientsView, PairingView, type PinForm } from "../src/views/DevicesView";
import { RecordingDetailView } from "../src/views/RecordingDetailView";
import { RecordingsTableView } from "../src/views/RecordingsTableView";
import { captureColumns } from "../src/data/columns";
import { capture, GAMESTREAM, gamestreamSample, meta, sample, series } from "./fixtures";
import type { ReactNode } from "react";

const render = (node: ReactNode, locale: Locale = "en") =>
  renderToStaticMarkup(<StaticI18n locale={locale}>{node}</StaticI18n>);
const noop = () => undefined;

describe("RecordingDetailView", () => {
  it("says when a recording was truncated at the sample cap", () => {
    const html = render(
      <RecordingDetailView summary={null} recording={captureColumns(capture(series(3), { truncated: true }))} mode="p50" scheme="light" onModeChange={noop} />,
    );
    expect(html).toContain("hit the sample limit");
    expect(html).toContain("Where the time goes");
    expect(html).toContain("Not measured on this path: packets dropped, FEC recovered");
  });

  it("marks a recovered recording in its header, with the reason in the tooltip", () => {
    const html = render(<RecordingDetailView summary={null} recording={captureColumns(capture(series(3), { recovered: true }))} mode="p50" scheme="light" onModeChange={noop} />);
    expect(html).toMatch(
      /<span (?=[^>]*class="tag warn")(?=[^>]*title="Rebuilt after the host stopped without saving; the window in progress then is missing.")[^>]*>recovered<\/span>/,
    );
    expect(render(<RecordingDetailView summary={null} recording={captureColumns(capture(series(3)))} mode="p50" scheme="light" onModeChange={noop} />)).not.toContain(
      ">recovered<",
    );
    const de = render(<RecordingDetailView summary={null} recording={captureColumns(capture(series(3), { recovered: true }))} mode="p50" scheme="light" onModeChange={noop} />, "de");
    expect(de).toContain(">wiederhergestellt</span>");
  });

  it("draws the sound and input chart for a GameStream recording only", () => {
    const gs = render(
      <RecordingDetailView summary={null} recording={captureColumns(capture([gamestreamSample(1000), gamestreamSample(2000)], { kind: "gamestream" }))} mode="p50" scheme="light" onModeChange={noop} />,
    );
    expect(gs).toContain('data-chart="detail-sound-input"');
    expect(gs).toContain("Sound and input");
    const native = render(<RecordingDetailView summary={null} recording={captureColumns(capture(series(3)))} mode="p50" scheme="light" onModeChange={noop} />);
    expect(native).not.toContain("detail-sound-input");
  });

  it("shows an empty recording as a notice without charts", () => {
    const html = render(<RecordingDetailView summary={null} recording={captureColumns(capture([], { kind: "", width: 0, height: 0, fps: 0 }))} mode="p50" scheme="dark" onModeChange={noop} />);
    expect(html).toContain("This recording has no samples");
    expect(html).not.toContain("chart-card");
    expect(html).toContain("no session");
  });

  it("explains separate sessions", () => {
    const html = render(
      <RecordingDetailView summary={null}
        recording={captureColumns(capture([sample(1000, { session_id: 1 }), sample(9000, { session_id: 2 })]))}
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

  it("marks recovered recordings, explaining why in the tooltip", () => {
    const html = render(<RecordingsTableView {...props} recordings={[meta({ id: "a", recovered: true }), meta({ id: "b" })]} />);
    expect(html.match(/>recovered<\/span>/g)).toHaveLength(1);
    expect(html).toContain('title="Rebuilt after the host stopped without saving; the window in progress then is missing."');
    const de = render(<RecordingsTableView {...props} recordings={[meta({ id: "a", recovered: true })]} />, "de");
    expect(de).toContain(">wiederhergestellt</span>");
    expect(de).toContain("das damals laufende Fenster fehlt");
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

describe("PairingView", () => {
  const form: PinForm = { pin: "", name: "", busy: false, error: null };
  const on = { enabled: true, http_port: 47989, https_port: 47984, waiting: false, client_name: null };
  const handlers = { onPinChange: noop, onNameChange: noop, onSubmit: noop };

  it("shows GameStream's ports and no PIN box while no client waits", () => {
    const html = render(<PairingView status={on} error={null} form={form} outcome={null} {...handlers} />);
    expect(html).toContain("badge-gamestream");
    expect(html).toContain(">47989<");
    expect(html).toContain(">47984<");
    expect(html).not.toContain("Enter the PIN");
    expect(html).not.toContain("<form");
    expect(html).toContain("A PIN box appears here while Moonlight shows its PIN");
  });

  it("shows the PIN box with the waiting client's name while it waits", () => {
    const waiting = { ...on, waiting: true, client_name: "Moonlight 0123456789ABCDEF" };
    const html = render(<PairingView status={waiting} error={null} form={{ ...form, pin: "12" }} outcome={null} {...handlers} />);
    expect(html).toContain("Enter the PIN");
    expect(html).toContain("“Moonlight 0123456789ABCDEF” wants to pair");
    expect(html).toContain('placeholder="Moonlight 0123456789ABCDEF"');
    expect(html.toLowerCase()).toContain('inputmode="numeric"');
    expect(html).toContain('value="12"');
    expect(html).toContain(">Pair<");
  });

  it("shows the host's answer to a refused PIN, even once the box is gone", () => {
    const error = "The host answered 409: no Moonlight client is waiting for a PIN";
    const html = render(<PairingView status={on} error={null} form={{ ...form, error }} outcome={null} {...handlers} />);
    expect(html).toContain('role="alert"');
    expect(html).toContain(error);
  });

  it("says how the pairing went", () => {
    const sent = render(<PairingView status={on} error={null} form={form} outcome={{ kind: "sent", client: "Moonlight X" }} {...handlers} />);
    expect(sent).toContain("The PIN went to “Moonlight X”");
    const paired = render(<PairingView status={on} error={null} form={form} outcome={{ kind: "paired", name: "TV", id: "ab" }} {...handlers} />);
    expect(paired).toContain("Paired “TV”");
    const late = render(<PairingView status={on} error={null} form={form} outcome={{ kind: "timeout", client: "Moonlight X" }} {...handlers} />);
    expect(late).toContain("did not finish pairing");
  });

  it("says when GameStream is off, in German too", () => {
    const off = { enabled: false, http_port: null, https_port: null, waiting: false, client_name: null };
    const html = render(<PairingView status={off} error={null} form={form} outcome={null} {...handlers} />, "de");
    expect(html).toContain("GameStream ist auf diesem Host aus");
    expect(html).toContain(">Aus<");
    expect(html).not.toContain("HTTP-Port");
  });
});

describe("PairedClientsView", () => {
  const props = {
    error: null,
    confirmUnpair: null,
    busy: new Set<string>(),
    onRefresh: noop,
    onAskUnpair: noop,
    onCancelUnpair: noop,
    onUnpair: noop,
  };
  const tv = { id: "0123456789ab".padEnd(64, "f"), name: "Living-room <TV>", paired_unix_ms: Date.UTC(2026, 5, 26, 20, 14, 3) };

  it("lists each client with its name, pairing date and short id", () => {
    const html = render(<PairedClientsView {...props} clients={[tv]} />);
    expect(html).toContain("Living-room &lt;TV");
    expect(html).not.toContain("<TV");
    expect(html).toContain("26 Jun 2026");
    expect(html).toContain(">0123456789ab</code>");
    expect(html).toMatch(/aria-label="Unpair Living-room &lt;TV(&gt;|>)"/);
  });

  it("asks before unpairing", () => {
    const html = render(<PairedClientsView {...props} clients={[tv]} confirmUnpair={tv.id} />);
    expect(html).toContain("It has to pair again to stream.");
    expect(html).toContain(">Cancel<");
  });

  it("says when nothing is paired, in German too", () => {
    expect(render(<PairedClientsView {...props} clients={[]} />)).toContain("No paired devices yet.");
    expect(render(<PairedClientsView {...props} clients={[]} />, "de")).toContain("Noch keine gekoppelten Geräte.");
  });
});

describe("session paths in the Performance views", () => {
  it("shows each session's path in the recording detail", () => {
    const samples = [
      sample(1000, { session_id: 1 }),
      sample(1500, { session_id: 2, rtt_us: 2100 }, GAMESTREAM),
      sample(3000, { session_id: 1 }),
      sample(3500, { session_id: 2, rtt_us: 2300 }, GAMESTREAM),
    ];
    const html = render(<RecordingDetailView summary={null} recording={captureColumns(capture(samples, { kind: "native", sessions: 2 }))} mode="p50" scheme="light" onModeChange={noop} />);
    expect(html).toContain("badge-native");
    expect(html).toContain("badge-gamestream");
    expect(html).toMatch(/data-session-id="1"><span>session 1<\/span> <span class="badge badge-native">native/);
    expect(html).toMatch(/data-session-id="2"><span>session 2<\/span> <span class="badge badge-gamestream">gamestream/);
    expect(html).toContain("latency by stage (p50) · session 2 (gamestream)");
    expect(html).toContain("Network round-trip time (RTT)");
    expect(html).toContain("Not measured for session 1 (native)");
  });

  it("names the sessions of a listed recording that had several", () => {
    const html = render(
      <RecordingsTableView
        recordings={[meta({ id: "a", sessions: 3 }), meta({ id: "b", sessions: 1 })]}
        error={null}
        selected={[]}
        confirmDelete={null}
        busy={new Set()}
        onRefresh={noop}
        onToggleSelect={noop}
        onCompare={noop}
        onDownload={noop}
        onAskDelete={noop}
        onCancelDelete={noop}
        onDelete={noop}
      />,
    );
    expect(html.match(/3 sessions/g)).toHaveLength(1);
  });
});
