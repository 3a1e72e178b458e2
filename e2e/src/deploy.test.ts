// The systemd units and default configs in deploy/ are valid as installed.
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { repoRoot } from "./daemons.js";
import { tempDir } from "./fixtures/tmp.js";

test("every unit in deploy/ passes systemd-analyze verify", async () => {
  const dir = await tempDir("units-");
  const units = (await readdir(join(repoRoot, "deploy"))).filter((f) => f.endsWith(".service"));
  assert.ok(units.includes("berthd.service"));
  for (const unit of units) {
    // The units name the default paths; install.sh rewrites them only for moved ones.
    await writeFile(join(dir, unit), await readFile(join(repoRoot, "deploy", unit), "utf8"));
  }
  for (const unit of units) {
    const r = await execa("systemd-analyze", ["verify", join(dir, unit)], { reject: false });
    // Without systemd as PID 1 verify still parses and checks the unit; it must report nothing.
    const problems = `${r.stdout}\n${r.stderr}`
      .split("\n")
      .filter(
        (l) =>
          l.trim() !== "" &&
          !/Failed to connect|System has not been booted|Cannot open|Unit.*not found|dbus/i.test(l),
      );
    assert.deepEqual(problems, [], `${unit}: ${problems.join("\n")}`);
  }
});

test("berthd exits non-zero with one clear line on a bad config", async () => {
  const dir = await tempDir("badcfg-");
  const cfg = join(dir, "bad.yaml");
  await writeFile(cfg, "root: relative/path\ngrpc:\n  adress: /x\n");
  const r = await execa(process.execPath, [join(repoRoot, "packages/core/dist/main.js"), "--config", cfg], {
    reject: false,
    timeout: 20_000,
  });
  assert.notEqual(r.exitCode, 0);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /grpc\.adress: unknown key/);
});

test("the default berthd.yaml is accepted", async () => {
  const dir = await tempDir("okcfg-");
  const text = (await readFile(join(repoRoot, "deploy/berthd.yaml"), "utf8"))
    .replace("/var/lib/berth", join(dir, "root"))
    .replace("/run/berth/berthd.sock", join(dir, "b.sock"))
    .replace("/run/berth", join(dir, "state"));
  const cfg = join(dir, "berthd.yaml");
  await writeFile(cfg, text);
  const child = execa(process.execPath, [join(repoRoot, "packages/core/dist/main.js"), "--config", cfg], {
    reject: false,
  });
  try {
    for (let i = 0; i < 100; i++) {
      if ((await readdir(dir)).includes("b.sock")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok((await readdir(dir)).includes("b.sock"), "berthd did not start with the default config");
  } finally {
    child.kill("SIGTERM");
    const r = await child;
    assert.equal(r.exitCode, 0, r.stderr);
  }
});
