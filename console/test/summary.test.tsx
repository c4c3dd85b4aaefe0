// The summary table: the host's figures (GET …/summary) as text, readable without hovering.
import { renderToStaticMarkup } from "preact-render-to-string";
import type { ReactNode } from "react";
import { describe, expect, it } from "vitest";
import { ofTarget, readCounter, shownCounters } from "../src/data/summary";
import { StaticI18n } from "../src/i18n/I18nProvider";
import type { Locale } from "../src/i18n/messages";
import { SummaryTableView } from "../src/views/SummaryTableView";
import { NATIVE, recordingSummary } from "./fixtures";

const render = (node: ReactNode, locale: Locale = "en") => renderToStaticMarkup(<StaticI18n locale={locale}>{node}</StaticI18n>);

/** The cells of the row whose header is `header`, as text. */
function rowCells(html: string, attr: string): string[] {
  const row = new RegExp(`<tr [^>]*${attr}[^>]*>(.*?)</tr>`).exec(html);
  if (row === null) throw new Error(`no row ${attr} in ${html}`);
  return [...row[1].matchAll(/<t[hd][^>]*>(.*?)<\/t[hd]>/g)].map((m) => m[1].replace(/<[^>]+>/g, ""));
}

describe("counters", () => {
  it("read n/a when never measured, a total, or a total over some windows", () => {
    expect(readCounter({ name: "x", total: null, measured: 0, windows: 3 })).toEqual({ kind: "unmeasured" });
    expect(readCounter({ name: "x", total: 0, measured: 3, windows: 3 })).toEqual({ kind: "total", total: 0 });
    expect(readCounter({ name: "x", total: 4, measured: 2, windows: 3 })).toEqual({ kind: "partial", total: 4, measured: 2, windows: 3 });
  });

  it("leave out the optional ones (sound, input) unless measured", () => {
    const s = recordingSummary();
    expect(shownCounters(s).map((c) => c.name)).toEqual(["frames_dropped", "packets_dropped", "send_dropped", "fec_recovered"]);
    s.counters[4] = { name: "audio_packets", total: 600, measured: 3, windows: 3 };
    expect(shownCounters(s).map((c) => c.name)).toContain("audio_packets");
  });

  it("give the bitrate as a share of its target", () => {
    expect(ofTarget(9.5, 10)).toBe(95);
    expect(ofTarget(9.5, 0)).toBeNull();
    expect(ofTarget(null, 10)).toBeNull();
  });
});

describe("SummaryTableView", () => {
  it("is a real table: caption, column headers, a row header per stage", () => {
    const html = render(<SummaryTableView summary={recordingSummary()} />);
    expect(html).toContain("<caption>Latency over the recording, in ms</caption>");
    expect(html).toMatch(/<th scope="col">Stage<\/th><th scope="col">p50<\/th><th scope="col">p99<\/th><th scope="col">worst window's p99<\/th>/);
    NATIVE.forEach((name, i) => {
      expect(rowCells(html, `data-latency="stage:${name}"`)).toEqual([name, `${i + 1}.000`, `${2 * (i + 1)}.000`, `${(2.5 * (i + 1)).toFixed(3)}`, "3"]);
    });
    expect(html).toContain(`<th scope="row">${NATIVE[0]}</th>`);
    expect(rowCells(html, 'data-latency="host"')).toEqual(["host total", "16.000", "31.000", "45.251", "3"]);
    expect(html).toContain("the median over the 3 windows");
  });

  it("gives rates and counters as text, n/a for what was never measured", () => {
    const html = render(<SummaryTableView summary={recordingSummary()} />);
    expect(html).toContain("<caption>Rates and counters</caption>");
    expect(rowCells(html, 'data-figure="fps"')).toEqual(["frame rate", "59.9 fps mean (repeats 0.2)"]);
    expect(rowCells(html, 'data-figure="bitrate"')).toEqual(["bitrate", "9.50 Mb/s mean, target 10.00 Mb/s (95 %)"]);
    expect(rowCells(html, 'data-figure="counter:frames_dropped"')).toEqual(["frames dropped", "4 (measured in 2 of 3 windows)"]);
    expect(rowCells(html, 'data-figure="counter:packets_dropped"')).toEqual(["packets dropped", "n/a (not measured)"]);
    expect(rowCells(html, 'data-figure="counter:send_dropped"')).toEqual(["send dropped", "0"]);
    expect(html).not.toContain("audio packets");
    expect(html).not.toContain("client decode");
    expect(html).not.toContain("summary-sessions");
  });

  it("adds what only some paths measure: decode, RTT, sound", () => {
    const s = recordingSummary({
      client_decode_us_mean: 2345.6,
      rtt_us_median: 1500,
      audio: { name: "audio encode", windows: 3, p50_us: 150, p99_us: 420, max_p99_us: 900 },
    });
    s.counters[4] = { name: "audio_packets", total: 600, measured: 3, windows: 3 };
    const html = render(<SummaryTableView summary={s} />);
    expect(rowCells(html, 'data-figure="client_decode"')).toEqual(["client decode", "2.346 ms mean"]);
    expect(rowCells(html, 'data-figure="rtt"')).toEqual(["network RTT", "1.500 ms median"]);
    expect(rowCells(html, 'data-latency="audio"')).toEqual(["audio encode", "0.150", "0.420", "0.900", "3"]);
    expect(rowCells(html, 'data-figure="counter:audio_packets"')).toEqual(["audio packets", "600"]);
  });

  it("lists each session when there are several", () => {
    const host = { name: "host", windows: 2, p50_us: 7000, p99_us: 12000, max_p99_us: 13000 };
    const s = recordingSummary({
      sessions: [
        { session_id: 1, windows: 2, first_t_ms: 0, last_t_ms: 2000, fps_mean: 60, mbps_mean: 9.6, host },
        { session_id: 2, windows: 1, first_t_ms: 65_000, last_t_ms: 65_000, fps_mean: 30, mbps_mean: 5, host: null },
      ],
    });
    const html = render(<SummaryTableView summary={s} />);
    expect(html).toContain("<caption>Per session</caption>");
    expect(rowCells(html, 'data-session="1"')).toEqual(["1", "2", "0:00", "0:02", "60.0", "9.60", "7.000", "12.000"]);
    expect(rowCells(html, 'data-session="2"')).toEqual(["2", "1", "1:05", "1:05", "30.0", "5.00", "n/a", "n/a"]);
  });

  it("speaks German with German numbers", () => {
    const html = render(<SummaryTableView summary={recordingSummary()} />, "de");
    expect(html).toContain("<caption>Latenz über die Aufzeichnung, in ms</caption>");
    expect(rowCells(html, 'data-latency="host"')).toEqual(["Host gesamt", "16,000", "31,000", "45,251", "3"]);
    expect(rowCells(html, 'data-figure="counter:packets_dropped"')).toEqual(["verworfene Pakete", "n. v. (nicht gemessen)"]);
  });

  it("says so when there were no windows", () => {
    const html = render(<SummaryTableView summary={recordingSummary({ windows: 0, stages: [], host: null, fps_mean: null })} />);
    expect(html).toContain("No samples");
    expect(html).not.toContain("<table");
  });
});
