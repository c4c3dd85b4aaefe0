// The console's stage names and their order, generated from the OpenAPI document's
// `x-stage-sets` extension: each streaming path's stages in pipeline order, as the host
// declares them; and the sample fields a recording's columns hold (the StatsSample
// schema's numeric properties, in the host's order). `npm run generate` writes src/api/stages.gen.ts with this module;
// `npm run check` renders it again and fails when the committed file differs.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const STAGES_SOURCE = join(root, "../api/openapi.json");
export const STAGES_OUTPUT = join(root, "src/api/stages.gen.ts");
const EXTENSION = "x-stage-sets";

/** The TypeScript module for the document's stage sets; throws with what is wrong. */
export function renderStageSets(documentText) {
  const sets = JSON.parse(documentText)[EXTENSION];
  const fix = "regenerate it with `punktfunk openapi > api/openapi.json`";
  if (sets === null || typeof sets !== "object" || Array.isArray(sets) || Object.keys(sets).length === 0) {
    throw new Error(`../api/openapi.json has no "${EXTENSION}" object: ${fix}`);
  }
  const entries = [];
  for (const [kind, stages] of Object.entries(sets)) {
    const names = Array.isArray(stages) ? stages : [];
    const valid = names.length > 0 && names.every((n) => typeof n === "string" && n.trim() !== "");
    if (!valid || new Set(names).size !== names.length) {
      throw new Error(`"${EXTENSION}".${kind} must be a non-empty list of distinct stage names: ${fix}`);
    }
    entries.push(`  ${JSON.stringify(kind)}: [${names.map((n) => JSON.stringify(n)).join(", ")}],`);
  }
  const sample = JSON.parse(documentText).components?.schemas?.StatsSample?.properties;
  if (sample === null || typeof sample !== "object") {
    throw new Error(`../api/openapi.json has no StatsSample schema: ${fix}`);
  }
  const fields = Object.keys(sample).filter((name) => !["t_ms", "session_id", "stages"].includes(name));
  return [
    "/**",
    ` * Generated from ../api/openapi.json ("${EXTENSION}", StatsSample) by scripts/generate-stages.mjs.`,
    " * Do not make direct changes to the file: run `npm run generate`.",
    " */",
    "",
    "/** Each streaming path's stages, in pipeline order, as the host declares them. */",
    "export const STAGE_SETS = {",
    ...entries,
    "} as const;",
    "",
    "/** A streaming path: a capture's `kind`. */",
    "export type PathKind = keyof typeof STAGE_SETS;",
    "",
    "/** A stage that some path declares. */",
    "export type StageName = (typeof STAGE_SETS)[PathKind][number];",
    "",
    "/** The sample fields a recording's columns can hold (`CaptureColumns.fields`), in the host's order. */",
    `export const SAMPLE_FIELDS = [${fields.map((n) => JSON.stringify(n)).join(", ")}] as const;`,
    "",
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(STAGES_OUTPUT, renderStageSets(readFileSync(STAGES_SOURCE, "utf8")));
}
