/**
 * What the charts' time axis says: the time since the capture started (the default) or the
 * local wall-clock time (from the capture's `started_unix_ms`). The x data stays seconds
 * since the start either way; only tick labels, tick positions and the cursor readout
 * change, so switching never rebuilds data or charts and live updates stay in place.
 *
 * A chart model's axis functions read one `TimeAxis` object, which the view owning the
 * charts keeps for its lifetime and updates when the choice changes; the charts then only
 * redraw their axes (`UplotChart`'s `timeKey`).
 */
import { useState } from "react";
import { formatElapsed } from "../data/format";

export type TimeAxisMode = "elapsed" | "wall";

const STORAGE_KEY = "punktfunk.timeAxis";

const timeFormats = new Map<string, Intl.DateTimeFormat>();
function timeFormat(locale: string, seconds: boolean): Intl.DateTimeFormat {
  const key = `${locale}|${seconds ? "s" : "m"}`;
  let f = timeFormats.get(key);
  if (f === undefined) {
    f = new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}) });
    timeFormats.set(key, f);
  }
  return f;
}

/** The mutable time-axis state that a view's chart models share. */
export class TimeAxis {
  mode: TimeAxisMode;
  /** When x = 0 was, in ms since the epoch; null: unknown (the axis shows elapsed time). */
  startUnixMs: number | null;

  constructor(mode: TimeAxisMode = "elapsed", startUnixMs: number | null = null) {
    this.mode = mode;
    this.startUnixMs = startUnixMs;
  }

  /** Whether labels are wall-clock times now (chosen, and the start is known). */
  get wall(): boolean {
    return this.mode === "wall" && this.startUnixMs !== null && this.startUnixMs > 0;
  }

  /** A change of what the labels show (for charts: redraw the axes). */
  get key(): string {
    return this.wall ? `wall:${this.startUnixMs}` : "elapsed";
  }

  private wallMs(seconds: number): number {
    return Math.round((this.startUnixMs ?? 0) + seconds * 1000);
  }

  /** A tick label; ticks a whole number of minutes apart leave out the seconds. */
  tick(seconds: number, increment: number, locale: string): string {
    if (!this.wall) return formatElapsed(seconds * 1000);
    return timeFormat(locale, increment % 60 !== 0).format(this.wallMs(seconds));
  }

  /** The cursor's time, to the second. */
  readout(seconds: number | null | undefined, locale: string): string {
    if (seconds === null || seconds === undefined) return "—";
    return this.wall ? timeFormat(locale, true).format(this.wallMs(seconds)) : formatElapsed(seconds * 1000);
  }

  /**
   * Tick positions (seconds since start) `increment` apart within [min, max]: round
   * elapsed times, or round local clock times when the axis shows the wall clock.
   */
  splits(min: number, max: number, increment: number): number[] {
    if (!(increment > 0) || !Number.isFinite(min) || !Number.isFinite(max) || max < min) return [];
    // Local clock seconds of x = 0 (the zone's offset counts for increments of an hour).
    const offset = this.wall ? this.localSeconds() : 0;
    // `|| 0`: a tick at the start is 0, not -0.
    const first = Math.ceil((min + offset) / increment - 1e-9) * increment - offset || 0;
    const out: number[] = [];
    // Bounded: the axis asked for this increment because few ticks fit.
    for (let v = first, i = 0; v <= max + 1e-9 && i < 1000; i++, v = first + i * increment) out.push(v);
    return out;
  }

  private localSeconds(): number {
    const start = this.startUnixMs ?? 0;
    const zoneMinutes = new Date(start).getTimezoneOffset();
    return start / 1000 - zoneMinutes * 60;
  }
}

function storage(): Storage | null {
  try {
    return typeof window === "undefined" ? null : window.localStorage;
  } catch {
    return null; // storage disabled: the choice lasts as long as the page
  }
}

export function loadTimeAxisMode(): TimeAxisMode {
  return storage()?.getItem(STORAGE_KEY) === "wall" ? "wall" : "elapsed";
}

export function saveTimeAxisMode(mode: TimeAxisMode): void {
  try {
    storage()?.setItem(STORAGE_KEY, mode);
  } catch {
    // a full or refused storage: the choice lasts as long as the page
  }
}

/** The remembered choice (localStorage), shared by the detail and live views. */
export function useTimeAxisMode(): [TimeAxisMode, (mode: TimeAxisMode) => void] {
  const [mode, setMode] = useState<TimeAxisMode>(loadTimeAxisMode);
  const choose = (next: TimeAxisMode) => {
    saveTimeAxisMode(next);
    setMode(next);
  };
  return [mode, choose];
}

/**
 * One `TimeAxis` for the lifetime of the calling view, brought up to date with `mode`
 * and `startUnixMs` on every render (before its charts' effects redraw their axes).
 */
export function useTimeAxis(mode: TimeAxisMode, startUnixMs: number | null): TimeAxis {
  const [axis] = useState(() => new TimeAxis(mode, startUnixMs));
  axis.mode = mode;
  axis.startUnixMs = startUnixMs;
  return axis;
}
