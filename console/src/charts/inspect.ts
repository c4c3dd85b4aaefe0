/**
 * Reading a chart with the keyboard: which point a key moves the cursor to, and the text
 * that says the values there (the time, then each shown series with its unit, through the
 * same formatters as the legend). Runs only when a key is pressed, never per data append.
 */
import type uPlot from "uplot";

/** Keys that move the cursor; PageUp/PageDown move by a tenth of the points. */
export const INSPECT_KEYS: ReadonlySet<string> = new Set(["ArrowLeft", "ArrowRight", "Home", "End", "PageUp", "PageDown"]);

/** The visible points' index range (a zoom shows fewer). */
export interface IndexRange {
  lo: number;
  hi: number;
}

/**
 * The index `key` moves to from `from` (null: no point chosen yet), within `range`.
 * Rows with the same x (a border between sessions) are one stop. Null when the key does
 * not move the cursor or there are no points.
 */
export function stepIndex(x: ArrayLike<number>, from: number | null, key: string, range: IndexRange): number | null {
  const { lo, hi } = range;
  if (!INSPECT_KEYS.has(key) || hi < lo || lo < 0 || hi >= x.length) return null;
  if (key === "Home") return lo;
  if (key === "End") return hi;
  const forward = key === "ArrowRight" || key === "PageUp";
  if (from === null || from < lo || from > hi) return forward ? lo : hi;
  const points = hi - lo + 1;
  const step = key === "PageUp" || key === "PageDown" ? Math.max(1, Math.round(points / 10)) : 1;
  let i = from;
  for (let n = 0; n < step; n++) {
    const here = x[i];
    let j = i;
    if (forward) {
      while (j < hi && x[j] <= here) j++;
      if (x[j] <= here) break; // no later point
    } else {
      while (j > lo && x[j] >= here) j--;
      if (x[j] >= here) break; // no earlier point
      while (j > lo && x[j - 1] === x[j]) j--;
    }
    i = j;
  }
  return i;
}

/** What the legend would show for series `s` at `idx` (its own formatter). */
function shownValue(u: uPlot, s: uPlot.Series, si: number, idx: number): string {
  const raw = u.data[si][idx];
  const value = s.value;
  // uPlot hands formatters null for a gap too, whatever its type says; ours expect it.
  if (typeof value === "function") return String(value(u, raw as number, si, idx));
  return raw === null || raw === undefined ? "—" : String(raw);
}

/**
 * "0:42 · encode 1.234 ms · host total 7.000 ms": the time at `idx`, then each shown
 * series that has a row there (a lane without a sample at this time is left out).
 */
export function cursorReadout(u: uPlot, idx: number): string {
  const parts = [shownValue(u, u.series[0], 0, idx)];
  for (let si = 1; si < u.series.length; si++) {
    const s = u.series[si];
    if (s.show === false || u.data[si][idx] === undefined) continue;
    parts.push(`${typeof s.label === "string" ? s.label : ""} ${shownValue(u, s, si, idx)}`.trim());
  }
  return parts.join(" · ");
}

/** The points within the x scale's current range (all of them unless zoomed). */
export function visibleRange(u: uPlot): IndexRange {
  const n = u.data[0].length;
  if (n === 0) return { lo: 0, hi: -1 };
  const { min, max } = u.scales["x"];
  const x = u.data[0];
  let lo = min === undefined ? 0 : Math.max(0, Math.min(u.valToIdx(min), n - 1));
  let hi = max === undefined ? n - 1 : Math.max(0, Math.min(u.valToIdx(max), n - 1));
  // The closest point to an edge may lie just outside it.
  if (min !== undefined && x[lo] < min && lo < hi) lo++;
  if (max !== undefined && x[hi] > max && hi > lo) hi--;
  return { lo, hi };
}

/** uPlot's `setCursor` with its third argument (publish to the synced charts), untyped in its .d.ts. */
type SetCursor = (opts: { left: number; top: number }, fireHook?: boolean, publish?: boolean) => void;

/** Put the cursor on point `idx`, and the cursors of the charts synced with this one. */
export function moveCursor(u: uPlot, idx: number): void {
  const left = u.valToPos(u.data[0][idx], "x");
  (u.setCursor as SetCursor)({ left, top: u.over.clientHeight / 2 }, true, true);
}
