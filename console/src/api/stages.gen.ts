/**
 * Generated from ../api/openapi.json ("x-stage-sets") by scripts/generate-stages.mjs.
 * Do not make direct changes to the file: run `npm run generate`.
 */

/** Each streaming path's stages, in pipeline order, as the host declares them. */
export const STAGE_SETS = {
  "native": ["capture", "submit", "encode", "handoff", "send"],
  "gamestream": ["capture", "encode", "handoff", "packetize", "send"],
} as const;

/** A streaming path: a capture's `kind`. */
export type PathKind = keyof typeof STAGE_SETS;

/** A stage that some path declares. */
export type StageName = (typeof STAGE_SETS)[PathKind][number];
