/**
 * Pipeline stages: their order (derived from the data, never hard-coded) and a colour
 * per stage name that stays the same across charts, recordings and sessions.
 */

/**
 * Merge a sample's stage list into the order known so far. A new name is placed right
 * after the stage that precedes it in `incoming` (or first), so pipeline order survives
 * when paths with different stage sets (native, gamestream) meet. Returns `known` itself
 * when nothing is new.
 */
export function mergeStageOrder(known: readonly string[], incoming: readonly string[]): string[] | null {
  let result: string[] | null = null;
  let previous: string | null = null;
  for (const name of incoming) {
    const list: readonly string[] = result ?? known;
    if (!list.includes(name)) {
      const next: string[] = result ?? [...known];
      const at: number = previous === null ? 0 : next.indexOf(previous) + 1;
      next.splice(at, 0, name);
      result = next;
    }
    previous = name;
  }
  return result;
}

export type ColorScheme = "light" | "dark";

// Fixed colours for the stages we know; [light, dark]. Colour-blind-friendlier hues
// (Okabe–Ito-like) chosen to stay distinct when stacked.
const KNOWN: Record<string, readonly [string, string]> = {
  capture: ["#0072b2", "#56b4e9"],
  submit: ["#009e73", "#2ecc9a"],
  encode: ["#d55e00", "#ff8c42"],
  handoff: ["#cc79a7", "#e6a0c8"],
  packetize: ["#b8860b", "#f0e442"],
  send: ["#6a3d9a", "#b39ddb"],
};

const FALLBACK: readonly (readonly [string, string])[] = [
  ["#8c564b", "#c49c94"],
  ["#17becf", "#9edae5"],
  ["#7f7f7f", "#c7c7c7"],
  ["#bcbd22", "#dbdb8d"],
  ["#1f77b4", "#aec7e8"],
  ["#e377c2", "#f7b6d2"],
];

/** A stable hash (FNV-1a) so an unknown stage gets the same colour everywhere. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function stageColor(name: string, scheme: ColorScheme): string {
  const pair: readonly [string, string] = Object.hasOwn(KNOWN, name)
    ? KNOWN[name]
    : FALLBACK[hashName(name) % FALLBACK.length];
  return scheme === "dark" ? pair[1] : pair[0];
}
