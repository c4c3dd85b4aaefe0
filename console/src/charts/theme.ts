/** Chart colours for the light and dark colour schemes. */
import type { ColorScheme } from "../data/stages";

export interface ChartTheme {
  text: string;
  grid: string;
  budget: string;
  hostTotal: string;
  decode: string;
  /** Line colours for non-stage series, by role. */
  palette: readonly string[];
}

export const THEMES: Record<ColorScheme, ChartTheme> = {
  light: {
    text: "#3d4450",
    grid: "rgba(0, 0, 0, 0.08)",
    budget: "#c62828",
    hostTotal: "#1b1f24",
    decode: "#6d4c41",
    palette: ["#0072b2", "#d55e00", "#009e73", "#a6761d", "#cc79a7", "#b8860b", "#6a3d9a", "#17becf"],
  },
  dark: {
    text: "#c2c8d0",
    grid: "rgba(255, 255, 255, 0.09)",
    budget: "#ff6b6b",
    hostTotal: "#f0f3f6",
    decode: "#d7b29a",
    palette: ["#56b4e9", "#ff8c42", "#2ecc9a", "#e6ab02", "#e6a0c8", "#f0e442", "#b39ddb", "#9edae5"],
  },
};

/** "#rrggbb" + alpha → "rgba(r, g, b, a)". */
export function withAlpha(hex: string, alpha: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (m === null) return hex;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${alpha})`;
}
