// Vite builds the console into dist/, which mgmt serves at "/". No framework plugin:
// esbuild compiles the JSX (tsconfig "jsx": "react-jsx" with Preact's runtime); the console
// has no dev-server workflow that would need fast refresh.
//
// The components are written against React's API and run on Preact (preact/compat), the
// aliasing Preact documents: the same hooks and components in 10 kB instead of React's
// 180 kB, which is a third of the cold start of a recording's page (see README).
import { build } from "esbuild";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

/**
 * src/boot.ts, compiled and inlined as a classic script at the top of index.html: it runs
 * while the HTML is parsed, before the app bundle is even requested, so a deep link to a
 * recording starts downloading it right away (see boot.ts).
 */
function inlineBoot(): Plugin {
  return {
    name: "punktfunk-inline-boot",
    transformIndexHtml: {
      // Before Vite adds the stylesheet link: a classic script after a stylesheet would
      // wait for the stylesheet.
      order: "pre",
      async handler(html) {
        const out = await build({
          entryPoints: ["src/boot.ts"],
          bundle: true,
          write: false,
          format: "iife",
          minify: true,
          target: "es2022",
          logLevel: "warning",
        });
        const code = out.outputFiles[0].text.trim();
        return html.replace("</title>", () => `</title>\n    <script>${code}</script>`);
      },
    },
  };
}

/** React's module names, answered by Preact (tsconfig.json "paths" says the same to tsc). */
const PREACT_FOR_REACT = [
  { find: /^react$/, replacement: "preact/compat" },
  { find: /^react\/jsx-runtime$/, replacement: "preact/jsx-runtime" },
  { find: /^react-dom$/, replacement: "preact/compat" },
  { find: /^react-dom\/client$/, replacement: "preact/compat/client" },
  { find: /^react-dom\/server$/, replacement: "preact/compat/server" },
];

export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  resolve: { alias: PREACT_FOR_REACT },
  plugins: [inlineBoot()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 600,
  },
  test: {
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    environment: "node",
  },
});
