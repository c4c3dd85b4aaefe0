/**
 * Draws one ChartModel with uPlot. The chart is created when the model's options change
 * (structure, theme, language) and otherwise only fed new data with `setData`; a live
 * section can also redraw grown-in-place columns through the `registry` without any
 * React render.
 */
import { memo, useEffect, useLayoutEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { perf } from "../app/perf";
import { scheduleCreate } from "./createQueue";
import type { ChartModel } from "./specs";

/** Live charts by model id, for `setData` on appended columns. */
export type ChartRegistry = Map<string, uPlot>;

interface Props {
  model: ChartModel;
  height?: number;
  /** Called after every draw (benchmarks and "all charts drawn" marks listen). */
  onDrawn?: (id: string) => void;
  registry?: ChartRegistry;
}

const MIN_WIDTH = 240;

function UplotChartImpl({ model, height = 220, onDrawn, registry }: Props) {
  const hostRef = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
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

  return <div className="chart-canvas" ref={hostRef} data-chart-id={id} />;
}

export const UplotChart = memo(UplotChartImpl);
