import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ConfigError, defaultBerthdConfig, parseBerthdConfig } from "./config.js";

test("an empty file means every default; the ttrpc socket sits beside the gRPC one", () => {
  const c = parseBerthdConfig("");
  assert.equal(c.grpc.address, "/run/berth/berthd.sock");
  assert.equal(c.ttrpc.address, "/run/berth/berthd.sock.ttrpc");
  assert.equal(c.root, defaultBerthdConfig.root);
  assert.equal(c.metrics.address, "");
});

test("deploy/berthd.yaml parses to the defaults it documents", () => {
  const deployed = readFileSync(new URL("../../../../deploy/berthd.yaml", import.meta.url), "utf8");
  const c = parseBerthdConfig(deployed);
  assert.equal(c.grpc.address, defaultBerthdConfig.grpc.address);
  assert.equal(c.root, defaultBerthdConfig.root);
});

test("gc.scheduleDelayMs is read", () => {
  assert.equal(parseBerthdConfig("gc:\n  scheduleDelayMs: 2500\n").gc.scheduleDelayMs, 2500);
  assert.equal(parseBerthdConfig("").gc.scheduleDelayMs, 100);
});

test("metrics.address takes host:port and [v6]:port, as berth-cri's does", () => {
  assert.equal(parseBerthdConfig("metrics:\n  address: 127.0.0.1:1338\n").metrics.address, "127.0.0.1:1338");
  assert.equal(parseBerthdConfig("metrics:\n  address: '[::1]:1338'\n").metrics.address, "[::1]:1338");
  assert.equal(parseBerthdConfig("metrics:\n  address: localhost:1338\n").metrics.address, "localhost:1338");
});

test("bad files fail with one message naming the key", () => {
  for (const [text, message] of [
    ["root: relative", /root: must be an absolute path/],
    ["grpc:\n  adress: /x", /grpc\.adress: unknown key/],
    ["metrics:\n  address: '1338'", /metrics\.address: expected host:port or \[v6\]:port/],
    ["metrics:\n  address: 127.0.0.1:99999", /metrics\.address: expected host:port/],
    ["metrics:\n  address: '::1:1338'", /metrics\.address: expected host:port/],
    ["logLevel: loud", /logLevel: must be one of/],
    ["gc:\n  scheduleDelayMs: -1", /gc\.scheduleDelayMs: expected a non-negative integer/],
    // Nothing read it: the snapshotter is the client's to name, as with containerd.
    ["defaultSnapshotter: native", /defaultSnapshotter: no longer a berthd key .*: remove it/],
  ] as const) {
    assert.throws(
      () => parseBerthdConfig(text, "berthd.yaml"),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.match(err.message, message);
        assert.match(err.message, /^berthd\.yaml: /);
        return true;
      },
    );
  }
});

test("berthd config default prints every key, and parses back to the defaults; config dump shows what a file makes", async () => {
  const { execFileSync } = await import("node:child_process");
  const { mkdtempSync, rmSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const main = new URL("../main.js", import.meta.url).pathname;
  const printed = execFileSync(process.execPath, [main, "config", "default"], { encoding: "utf8" });
  assert.deepEqual(parseBerthdConfig(printed), parseBerthdConfig(""));
  for (const key of ["root:", "grpc:", "ttrpc:", "metrics:", "logLevel:", "gc:"])
    assert.match(printed, new RegExp(`^${key}`, "m"));
  const dir = mkdtempSync("/var/tmp/berthd-config-");
  try {
    writeFileSync(join(dir, "berthd.yaml"), "grpc:\n  address: /x/b.sock\n");
    const dumped = execFileSync(
      process.execPath,
      [main, "config", "dump", "--config", join(dir, "berthd.yaml")],
      {
        encoding: "utf8",
      },
    );
    assert.match(dumped, /^ {2}address: \/x\/b\.sock\.ttrpc$/m, "the derived ttrpc address");
    assert.equal(parseBerthdConfig(dumped).grpc.address, "/x/b.sock");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
