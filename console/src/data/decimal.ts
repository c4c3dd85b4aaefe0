/**
 * Fixed decimals the way the host's command line prints them, so the console and
 * `punktfunk stats show` agree to the last digit. Python's `f"{x:.3f}"` rounds the
 * double's exact value (half to even on a true tie); Intl rounds the double's shortest
 * decimal form instead, so 424.5 µs = 0.4245 ms (exactly 0.42449999…) is "0.424" in the
 * CLI but "0.425" through Intl alone.
 */

/** `value` with `digits` decimals, as Python's `f"{value:.{digits}f}"` writes it. */
export function fixedLikePython(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value);
  const rounded = value.toFixed(digits); // the exact value rounded, a tie away from zero
  // The exact decimal expansion (a double in this range has far fewer than 100 decimals).
  const exact = Math.abs(value).toFixed(100);
  const point = exact.indexOf(".");
  const rest = exact.slice(point + 1 + digits);
  if (!/^50*$/.test(rest)) return rounded; // not a tie: toFixed is Python's answer
  const kept = exact.slice(0, digits === 0 ? point : point + 1 + digits);
  const last = Number(kept[kept.length - 1]);
  // A tie goes to the even neighbour: the cut-off value when its last digit is even.
  if (last % 2 === 0) return (value < 0 || Object.is(value, -0) ? "-" : "") + kept;
  return rounded;
}

const formats = new Map<string, Intl.NumberFormat>();

/** `fixedLikePython` in the locale's notation (decimal comma, digit grouping). */
export function formatDecimal(locale: string, value: number | null, digits: number): string {
  if (value === null || !Number.isFinite(value)) return "—";
  const key = `${locale}|${digits}`;
  let nf = formats.get(key);
  if (nf === undefined) {
    nf = new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
    formats.set(key, nf);
  }
  // The fixed string parses to the double whose shortest form it is, so Intl keeps it.
  return nf.format(Number(fixedLikePython(value, digits)));
}
