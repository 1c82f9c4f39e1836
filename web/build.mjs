// Bundles the dashboard (src/main.js, uPlot and the styles) into
// ../dashboard/ui/dist, which the Go binary embeds with go:embed.
// `node build.mjs` (npm run build); `--watch` rebuilds on change.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const options = {
  entryPoints: { app: path.join(here, "src/main.js") },
  outdir: path.join(here, "../dashboard/ui/dist"),
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "linked",
  logLevel: "info",
};

if (process.argv.includes("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
