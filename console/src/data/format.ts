/** Small, locale-aware formatting shared by views. */
import type { CaptureMeta } from "../api/types";

/** 65_000 → "1:05", 3_725_000 → "1:02:05". */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

export function resolutionLabel(meta: Pick<CaptureMeta, "width" | "height" | "fps">): string {
  if (meta.width <= 0 || meta.height <= 0) return "—";
  return `${meta.width}×${meta.height}@${meta.fps}`;
}

export function formatNumber(locale: string, value: number | null, digits: number): string {
  if (value === null || !Number.isFinite(value)) return "—";
  return new Intl.NumberFormat(locale, {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  }).format(value);
}

export function formatDateTime(locale: string, unixMs: number): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium" }).format(
    new Date(unixMs),
  );
}
