/**
 * Draws one ChartModel with uPlot. The chart is created when the model's options change
 * (structure, theme, language) and otherwise only fed new data with `setData`; a live
 * section can also redraw grown-in-place columns through the `registry` without any
 * React render. A change of `timeKey` (elapsed / wall-clock labels) redraws the axes only.
 *
 * The chart takes keyboard focus: arrow keys, Home/End and PageUp/PageDown move uPlot's
 * cursor over the points, and the values there are written, as text, into a live region
 * under the chart (charts/inspect.ts). Nothing of this runs at creation or on new data.
 */
import { memo, useCallback, useEffect, useId, useLayoutEffect, useRef, type KeyboardEvent } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { perf } from "../app/perf";
import { useI18n } from "../i18n/I18nProvider";
import { scheduleCreate } from "./createQueue";
import { cursorReadout, INSPECT_KEYS, moveCursor, stepIndex, visibleRange } from "./inspect";
import type { ChartModel } from "./specs";

/** Live charts by model id, for `setData` on appended columns. */
export type ChartRegistry = Map<string, uPlot>;

interface Props {
  model: ChartModel;
  height?: number;
  /** Called after every draw (benchmarks and "all charts drawn" marks listen). */
  onDrawn?: (id: string) => void;
  registry?: ChartRegistry;
  /** What the time axis labels show (`TimeAxis.key`); a change redraws the axes. */
  timeKey?: string;
}

const MIN_WIDTH = 240;

function UplotChartImpl({ model, height = 220, onDrawn, registry, timeKey = "" }: Props) {
  const { t } = useI18n();
  const hintId = useId();
  const hostRef = useRef<HTMLDivElement>(null);
  const readoutRef = useRef<HTMLParagraphElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  /** The point the keyboard last chose (uPlot's own cursor index may be a twin row). */
  const keyIdx = useRef<number | null>(null);
  const latestTimeKey = useRef(timeKey);
  latestTimeKey.current = timeKey;
  const shownTimeKey = useRef(timeKey);
  const latestData = useRef(model.data);
  latestData.current = model.data;
  const shownData = useRef<uPlot.AlignedData | null>(null);
  const onDrawnRef = useRef(onDrawn);
  onDrawnRef.current = onDrawn;
  const { options, id } = model;

  // A layout effect: the chart exists (and draws) before the browser paints the page.
  useLayoutEffect(() => {
    const host = hostRef.current;
    if (host === null) return undefined;
    let observer: ResizeObserver | null = null;
    let drawStart = 0;
    let drawnOnce = false;
    const job = scheduleCreate(host, (width) => {
      const opts: uPlot.Options = {
        ...options,
        width: Math.max(MIN_WIDTH, width),
        height,
        hooks: {
          ...options.hooks,
          drawClear: [...(options.hooks?.drawClear ?? []), () => void (drawStart = performance.now())],
          draw: [
            ...(options.hooks?.draw ?? []),
            () => {
              // The first draw only: a live chart redraws every 2 s for hours.
              if (!drawnOnce) performance.measure(`pf:chart-draw:${id}`, { start: drawStart });
              drawnOnce = true;
              onDrawnRef.current?.(id);
            },
          ],
        },
      };
      shownData.current = latestData.current;
      shownTimeKey.current = latestTimeKey.current;
      keyIdx.current = null;
      const created = performance.now();
      const plot = new uPlot(opts, latestData.current, host);
      performance.measure(`pf:chart-create:${id}`, { start: created });
      const creations = perf().chartCreations;
      creations[id] = (creations[id] ?? 0) + 1;
      plotRef.current = plot;
      registry?.set(id, plot);
      observer = new ResizeObserver(() => {
        const w = Math.max(MIN_WIDTH, host.clientWidth);
        if (host.clientWidth > 0 && Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height });
      });
      observer.observe(host);
    });
    return () => {
      job.cancelled = true;
      observer?.disconnect();
      const plot = plotRef.current;
      if (plot !== null) {
        if (registry?.get(id) === plot) registry.delete(id);
        plot.destroy();
        plotRef.current = null;
      }
    };
  }, [options, id, height, registry]);

  // New data for an existing chart (e.g. the p50/p99 toggle keeps the options).
  useEffect(() => {
    const plot = plotRef.current;
    if (plot !== null && shownData.current !== model.data) {
      shownData.current = model.data;
      plot.setData(model.data);
    }
  }, [model.data]);

  // Labels only: the data and the chart stay.
  useEffect(() => {
    const plot = plotRef.current;
    if (plot === null || shownTimeKey.current === timeKey) return;
    shownTimeKey.current = timeKey;
    plot.redraw(false, true);
    plot.setLegend({});
    const idx = keyIdx.current;
    const readout = readoutRef.current;
    if (idx !== null && readout !== null && readout.textContent !== "" && idx < plot.data[0].length) {
      readout.textContent = cursorReadout(plot, idx);
    }
  }, [timeKey]);

  const onKeyDown = useCallback((e: KeyboardEvent<HTMLDivElement>) => {
    const plot = plotRef.current;
    if (plot === null || !INSPECT_KEYS.has(e.key) || e.altKey || e.ctrlKey || e.metaKey) return;
    const x = plot.data[0];
    // Start where the pointer left the cursor, unless it shows the keyboard's point.
    const shown = plot.cursor.idx ?? null;
    const mine = keyIdx.current;
    const from = shown !== null && (mine === null || mine >= x.length || x[mine] !== x[shown]) ? shown : mine;
    const idx = stepIndex(x, from, e.key, visibleRange(plot));
    if (idx === null) return;
    e.preventDefault();
    keyIdx.current = idx;
    moveCursor(plot, idx);
    if (readoutRef.current !== null) readoutRef.current.textContent = cursorReadout(plot, idx);
  }, []);

  return (
    <>
      <div
        className="chart-canvas"
        ref={hostRef}
        data-chart-id={id}
        tabIndex={0}
        role="group"
        aria-roledescription={t("chart.roleDescription")}
        aria-label={model.title}
        aria-describedby={hintId}
        onKeyDown={onKeyDown}
      />
      <p id={hintId} className="visually-hidden">
        {t("chart.keyboardHint")}
      </p>
      <p className="chart-readout" ref={readoutRef} aria-live="polite" aria-atomic="true" data-testid="chart-readout" />
    </>
  );
}

export const UplotChart = memo(UplotChartImpl);
