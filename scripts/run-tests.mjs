#!/usr/bin/env node
// Runs compiled tests with node's test runner. `unit` runs packages/*/dist/**/*.test.js
// side by side; `e2e` runs e2e/dist/**/*.test.js one file at a time, since they share
// real daemons, mounts and a registry. Extra arguments filter files by substring.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const [kind = "unit", ...filters] = process.argv.slice(2);

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "node_modules") continue;
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const dirs =
  kind === "e2e"
    ? [join(root, "e2e/dist")]
    : readdirSync(join(root, "packages")).map((p) => join(root, "packages", p, "dist"));
let files = dirs.flatMap((d) => walk(d, [])).sort();
if (filters.length > 0) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`run-tests: no ${kind} test files found; run 'pnpm build' first`);
  process.exit(1);
}
console.log(`run-tests: ${files.length} ${kind} file(s): ${files.map((f) => relative(root, f)).join(" ")}`);
const args = ["--test", "--test-reporter=spec"];
if (kind === "e2e") args.push("--test-concurrency=1");
const r = spawnSync(process.execPath, [...args, ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
