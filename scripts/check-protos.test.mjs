// protos/ must describe the same wire as the upstream definitions (see check-protos.mjs).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

test("protos/ matches the upstream containerd, shim, runc options and cgroups definitions", () => {
  const script = new URL("./check-protos.mjs", import.meta.url).pathname;
  const r = spawnSync(process.execPath, [script], { encoding: "utf8" });
  assert.equal(r.status, 0, `check-protos exited ${r.status}\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /matches upstream/);
});
