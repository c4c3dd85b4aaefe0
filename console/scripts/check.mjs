// `npm run check`, after `tsc --noEmit`: the checks the type checker cannot make.
//  1. the committed generated API client and stage sets match what `npm run generate`
//     would write;
//  2. the English and German catalogs have exactly the same keys and no empty strings;
//  3. no `any` in our own sources (the generated file is exempt).
// Exits non-zero with one line per problem.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { renderStageSets, STAGES_OUTPUT, STAGES_SOURCE } from "./generate-stages.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const problems = [];

// 1. generated client drift
const generatedPath = join(root, "src/api/schema.gen.ts");
const tmp = mkdtempSync(join(tmpdir(), "pf-console-gen-"));
try {
  const out = join(tmp, "schema.gen.ts");
  const bin = join(root, "node_modules/.bin/openapi-typescript");
  const run = spawnSync(bin, ["../api/openapi.json", "--output", out], {
    cwd: root,
    encoding: "utf8",
  });
  if (run.status !== 0) {
    problems.push(`openapi-typescript failed: ${run.stderr || run.stdout}`);
  } else {
    let committed = "";
    try {
      committed = readFileSync(generatedPath, "utf8");
    } catch {
      committed = "";
    }
    if (committed !== readFileSync(out, "utf8")) {
      problems.push(
        "src/api/schema.gen.ts is out of date with ../api/openapi.json: run npm run generate " +
          "(and commit the result)",
      );
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// 1b. generated stage sets drift
try {
  let committed = "";
  try {
    committed = readFileSync(STAGES_OUTPUT, "utf8");
  } catch {
    committed = "";
  }
  if (committed !== renderStageSets(readFileSync(STAGES_SOURCE, "utf8"))) {
    problems.push(
      "src/api/stages.gen.ts is out of date with ../api/openapi.json: run npm run generate " +
        "(and commit the result)",
    );
  }
} catch (error) {
  problems.push(`stage sets: ${error instanceof Error ? error.message : String(error)}`);
}

// 2. i18n parity
const catalogs = { en: "src/i18n/en.json", de: "src/i18n/de.json" };
const loaded = {};
for (const [lang, file] of Object.entries(catalogs)) {
  const data = JSON.parse(readFileSync(join(root, file), "utf8"));
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== "string" || value.trim() === "") {
      problems.push(`${file}: "${key}" is empty or not a string`);
    }
  }
  loaded[lang] = new Set(Object.keys(data));
}
for (const [a, b] of [["en", "de"], ["de", "en"]]) {
  for (const key of loaded[a]) {
    if (!loaded[b].has(key)) problems.push(`${catalogs[b]}: missing key "${key}" (present in ${a})`);
  }
}

// 3. no `any` in our own code
const anyPattern = /(:\s*any\b|\bas\s+any\b|<any>|\bany\[\]|<any,|,\s*any>)/;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith(".gen.ts")) {
      readFileSync(path, "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (anyPattern.test(line)) problems.push(`${relative(root, path)}:${i + 1}: uses any`);
        });
    }
  }
}
walk(join(root, "src"));
walk(join(root, "test"));

if (problems.length > 0) {
  for (const p of problems) console.error(`check: ${p}`);
  process.exit(1);
}
console.log("check: generated client and stage sets up to date; en/de catalogs in parity; no any");
