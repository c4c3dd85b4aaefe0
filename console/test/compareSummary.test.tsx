// The compare summary shows the host's verdicts as given: better/worse only where the host
// says so, and the p-value behind each on hover and keyboard focus. The shared test
// vectors (the host's significance rule, checked against SciPy) are rendered one by one.
import { renderToStaticMarkup } from "preact-render-to-string";
import type { ReactNode } from "react";
import { describe, expect, it } from "vitest";
import vectors from "../../tests/vectors/mann_whitney.json";
import type { Comparison, ComparisonRow, MetricDelta, Verdict } from "../src/api/types";
import { StaticI18n } from "../src/i18n/I18nProvider";
import type { Locale } from "../src/i18n/messages";
import { CompareSummaryView } from "../src/views/CompareSummaryView";
import { CompareView } from "../src/views/CompareView";
import { capture, meta, series } from "./fixtures";

const render = (node: ReactNode, locale: Locale = "en") => renderToStaticMarkup(<StaticI18n locale={locale}>{node}</StaticI18n>);
const noop = () => undefined;

function comparison(rows: ComparisonRow[], ids: string[] = ["a", "b"]): Comparison {
  return {
    ids,
    recordings: ids.map((id) => meta({ id })),
    threshold: 0.05,
    alpha: 0.05,
    test: "Mann-Whitney U, two-sided, over the per-window values of each recording",
    rows,
  };
}

function row(metric: string, values: (number | null)[], deltas: MetricDelta[], extra: Partial<ComparisonRow> = {}): ComparisonRow {
  return { metric, label: metric, unit: "us", better: "lower", values, windows: values.map(() => 3), deltas, ...extra };
}

/** The cell of recording `column` (0: baseline) in the row of `metric`. */
function cell(html: string, metric: string, column: number): string {
  const tr = new RegExp(`<tr data-metric="${metric.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}">(.*?)</tr>`).exec(html);
  if (tr === null) throw new Error(`no row ${metric}`);
  const cells = [...tr[1].matchAll(/<td([^>]*)>(.*?)<\/td>/g)];
  return `<td${cells[column][1]}>${cells[column][2]}</td>`;
}

/** What a cell says, without its tags. */
const text = (html: string) => html.replace(/<[^>]+>/g, "");

describe("CompareSummaryView", () => {
  const noise: MetricDelta = { change: -0.2099, p_value: 0.1, verdict: "no_clear_difference" };
  const html = render(
    <CompareSummaryView
      comparison={comparison(
        [
          row("stage:capture:p99", [1010, 798], [noise]),
          row("stage:encode:p50", [1000, 700], [{ change: -0.3, p_value: 1.43e-14, verdict: "better" }]),
          row("fps", [59.9, 45], [{ change: -0.2487, p_value: 0.0123, verdict: "worse" }], { unit: "fps", better: "higher" }),
          row("mbps", [9.5, 12], [{ change: 0.2632, p_value: 3e-11, verdict: "changed" }], { unit: "Mb/s", better: "neutral" }),
          row("rtt", [null, 1500], [{ change: null, p_value: null, verdict: "n/a" }]),
          row("counter:frames_dropped", [0, 0.5], [{ change: null, p_value: 1.2e-7, verdict: "worse" }], { unit: "per window" }),
        ],
        ["a", "b"],
      )}
    />,
  );

  it("marks a 21 % change that is noise as no clear difference, not better", () => {
    const b = cell(html, "stage:capture:p99", 1);
    expect(b).toContain('data-verdict="no_clear_difference"');
    expect(text(b)).toContain("0.798 ms");
    expect(text(b)).toContain("−21.0 % no clear difference");
    expect(b).not.toContain("delta-better");
  });

  it("shows better, worse and changed exactly where the host says so", () => {
    expect(cell(html, "stage:encode:p50", 1)).toContain('data-verdict="better"');
    expect(text(cell(html, "stage:encode:p50", 1))).toContain("−30.0 % better");
    expect(cell(html, "fps", 1)).toContain('data-verdict="worse"');
    expect(cell(html, "mbps", 1)).toContain('data-verdict="changed"');
    expect(text(cell(html, "mbps", 1))).toContain("12.00 Mb/s+26.3 % changed");
    expect(cell(html, "rtt", 1)).toContain('data-verdict="n/a"');
    expect(text(cell(html, "rtt", 0))).toBe("not measured");
    // a change from 0 has no percentage, only the host's verdict
    expect(text(cell(html, "counter:frames_dropped", 1))).toMatch(/^0\.50worsep &lt; 0\.001 /);
  });

  it("puts the p-value in a tooltip that describes the focusable cell", () => {
    const b = cell(html, "stage:capture:p99", 1);
    expect(b).toMatch(/^<td[^>]* tabindex="0"/i);
    const described = /^<td[^>]* aria-describedby="([^"]+)"/.exec(b);
    expect(described).not.toBeNull();
    const tip = new RegExp(`<span (?=[^>]*id="${described?.[1] ?? ""}")(?=[^>]*role="tooltip")[^>]*>(.*?)</span>`).exec(b);
    expect(tip?.[1]).toBe("p = 0.1 (Mann-Whitney U over 3 and 3 windows); better or worse needs a change over 5 % and p &lt; 0.05.");
    expect(text(cell(html, "rtt", 1))).toContain("No p-value");
    // the baseline has nothing to compare, so nothing to focus
    expect(cell(html, "stage:capture:p99", 0)).not.toContain("tabindex");
  });

  it("names rows in the console's language, unknown metrics with the host's label", () => {
    const de = render(
      <CompareSummaryView
        comparison={comparison([
          row("host:p99", [1, 2], [noise]),
          row("counter:send_dropped", [1, 2], [noise], { unit: "per window" }),
          row("jitter", [1, 2], [noise], { label: "jitter p99" }),
        ])}
      />,
      "de",
    );
    expect(de).toContain('<th scope="row">Host gesamt p99</th>');
    expect(de).toContain('<th scope="row">beim Senden verworfen je Fenster</th>');
    expect(de).toContain('<th scope="row">jitter p99</th>');
    expect(de).toContain("kein klarer Unterschied");
  });
});

describe("the shared Mann-Whitney vectors", () => {
  it("has vectors with every verdict", () => {
    const seen = new Set(vectors.vectors.map((v) => v.verdict));
    for (const v of ["better", "worse", "changed", "no_clear_difference", "n/a"]) expect(seen).toContain(v);
  });

  for (const v of vectors.vectors) {
    it(`renders "${v.name}" as the host judged it`, () => {
      const verdict = v.verdict as Verdict;
      const html = render(
        <CompareSummaryView
          comparison={comparison([
            {
              metric: "stage:encode:p99",
              label: "encode p99",
              unit: "us",
              better: v.better as ComparisonRow["better"],
              values: [v.baseline, v.value],
              windows: [v.x.length, v.y.length],
              deltas: [{ change: v.change, p_value: v.p_value, verdict }],
            },
          ])}
        />,
      );
      const b = cell(html, "stage:encode:p99", 1);
      expect(b).toContain(`data-verdict="${verdict}"`);
      const label = { better: "better", worse: "worse", changed: "changed", no_clear_difference: "no clear difference", "n/a": "n/a" }[verdict];
      expect(text(b)).toContain(label);
      if (verdict !== "better") expect(text(b)).not.toMatch(/ better$/);
      if (v.p_value === null) expect(text(b)).toContain("No p-value");
      else expect(text(b)).toContain(`over ${v.x.length} and ${v.y.length} windows`);
      // the p-value shown never crosses alpha: below 0.05 reads below, at or above reads so
      const shown = /p (=|&lt;) ([0-9.]+)/.exec(b);
      if (v.p_value !== null) {
        expect(shown).not.toBeNull();
        const p = Number(shown?.[2]);
        expect(p < vectors.alpha || shown?.[1] === "&lt;").toBe(v.p_value < vectors.alpha);
      }
    });
  }
});

describe("CompareView", () => {
  it("shows the host's comparison under the charts, or that it is loading, or its error", () => {
    const props = {
      captures: [capture(series(3), { id: "a" }), capture(series(3), { id: "b" })],
      metric: { kind: "stagesTotal" } as const,
      pct: "p50" as const,
      scheme: "light" as const,
      onMetricChange: noop,
      onPctChange: noop,
    };
    const loaded = render(<CompareView {...props} comparison={comparison([row("stage:encode:p50", [1000, 1000], [{ change: 0, p_value: 1, verdict: "no_clear_difference" }])])} />);
    expect(loaded).toContain("A (baseline)");
    expect(loaded).toContain('data-verdict="no_clear_difference"');
    expect(render(<CompareView {...props} comparison={null} />)).toContain("Loading");
    const failed = render(<CompareView {...props} comparison={null} comparisonError="The host answered 400: compare takes 2 to 8 recordings" />);
    expect(failed).toContain('role="alert"');
    expect(failed).not.toContain("Loading");
  });
});
