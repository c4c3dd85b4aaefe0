/**
 * Pipeline stages: their order and a colour per stage name that stays the same across
 * charts, recordings and sessions. The names and their order are the host's, generated
 * from the API document into src/api/stages.gen.ts; the console never spells them out.
 */
import { STAGE_SETS, type StageName } from "../api/stages.gen";

type Position = (list: readonly string[], name: string, previous: string | null) => number;

/** Right after the stage that precedes the new one in its list, or first. */
const afterPrevious: Position = (list, _name, previous) => (previous === null ? 0 : list.indexOf(previous) + 1);

/**
 * Every stage the host declares, in pipeline order: the paths' lists merged, a stage that
 * only one path has placed right after the stage it follows there.
 */
export const PIPELINE_ORDER: readonly StageName[] = (() => {
  let order: StageName[] = [];
  for (const stages of Object.values(STAGE_SETS)) order = insertNew(order, stages, afterPrevious) ?? order;
  return order;
})();

const RANK: ReadonlyMap<string, number> = new Map(PIPELINE_ORDER.map((name, i) => [name, i]));

/** Before the first stage that comes later in `PIPELINE_ORDER`; unknown names by `afterPrevious`. */
const inPipelineOrder: Position = (list, name, previous) => {
  const rank = RANK.get(name);
  if (rank === undefined) return afterPrevious(list, name, previous);
  const later = list.findIndex((other) => (RANK.get(other) ?? -1) > rank);
  return later < 0 ? list.length : later;
};

/** `known` plus the names of `incoming` it lacks, each at `position`; null when none is new. */
function insertNew<T extends string>(known: readonly T[], incoming: readonly T[], position: Position): T[] | null {
  let result: T[] | null = null;
  let previous: T | null = null;
  for (const name of incoming) {
    const list: readonly T[] = result ?? known;
    if (!list.includes(name)) {
      const next: T[] = result ?? [...known];
      next.splice(position(next, name, previous), 0, name);
      result = next;
    }
    previous = name;
  }
  return result;
}

/**
 * Merge a sample's stage list into the order known so far. A stage the host declares
 * takes its place in `PIPELINE_ORDER` (before the first known stage that comes later);
 * a name the console does not know (a recording from another version) goes right after
 * the stage that precedes it in `incoming`, or first. Returns null when nothing is new.
 */
export function mergeStageOrder(known: readonly string[], incoming: readonly string[]): string[] | null {
  return insertNew(known, incoming, inPipelineOrder);
}

/** The stage names of several lists (samples, recordings) merged into one order. */
export function mergeStageLists(lists: Iterable<readonly string[]>): string[] {
  let order: string[] = [];
  for (const names of lists) order = mergeStageOrder(order, names) ?? order;
  return order;
}

export type ColorScheme = "light" | "dark";

// A fixed colour for every stage the host declares; [light, dark]. Colour-blind-friendlier
// hues (Okabe–Ito-like) chosen to stay distinct when stacked. Keyed by the generated
// stage names, so a stage the host adds or drops fails the type check until it is
// given (or loses) its colour here.
const KNOWN: Record<StageName, readonly [string, string]> = {
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

function isStageName(name: string): name is StageName {
  return RANK.has(name);
}

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
  const pair: readonly [string, string] = isStageName(name) ? KNOWN[name] : FALLBACK[hashName(name) % FALLBACK.length];
  return scheme === "dark" ? pair[1] : pair[0];
}
