import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ConfigError, defaultCriConfig, parseCriConfig, runtimeOf } from "./config.js";

test("an empty file means every default", () => {
  assert.deepEqual(parseCriConfig(""), defaultCriConfig);
  assert.equal(defaultCriConfig.address, "/run/berth/cri.sock");
  assert.equal(defaultCriConfig.containerd.address, "/run/berth/berthd.sock");
  assert.equal(defaultCriConfig.containerd.namespace, "k8s.io");
  assert.equal(defaultCriConfig.containerd.runtime, "io.containerd.berth.v2");
});

test("a subset of keys overrides only those", () => {
  const c = parseCriConfig(
    "root: /r\nstate: /s\naddress: /s/cri.sock\ncontainerd:\n  address: /c.sock\nregistry:\n  mirrors:\n    gcr.io: [http://127.0.0.1:5000]\n  plainHttp: [127.0.0.1:5000]\n",
  );
  assert.equal(c.root, "/r");
  assert.equal(c.containerd.address, "/c.sock");
  assert.equal(c.containerd.namespace, "k8s.io");
  assert.deepEqual(c.registry.mirrors, { "gcr.io": ["http://127.0.0.1:5000"] });
  assert.deepEqual(c.registry.plainHttp, ["127.0.0.1:5000"]);
  assert.equal(c.cni.binDir, "/usr/lib/cni");
});

test("shim grouping: pooled by 16 unless configured", () => {
  assert.deepEqual(parseCriConfig("").shim, { policy: "pooled", poolSize: 16 });
  assert.deepEqual(parseCriConfig("shim:\n  policy: per-pod\n").shim, { policy: "per-pod", poolSize: 16 });
  assert.deepEqual(parseCriConfig("shim:\n  policy: pooled\n  poolSize: 3\n").shim, {
    policy: "pooled",
    poolSize: 3,
  });
  assert.equal(parseCriConfig("shim:\n  policy: per-container\n").shim.policy, "per-container");
});

test("RuntimeClass handlers map to runtimes, as containerd's runtimes table", () => {
  const d = parseCriConfig("");
  assert.equal(runtimeOf(d, ""), "io.containerd.berth.v2");
  assert.equal(runtimeOf(d, "runc"), "io.containerd.runc.v2");
  assert.equal(runtimeOf(d, "berth"), "io.containerd.berth.v2");
  assert.equal(runtimeOf(d, "kata"), undefined);
  assert.equal(runtimeOf(d, "toString"), undefined, "no handler from the object's prototype");
  const c = parseCriConfig(
    "containerd:\n  runtime: io.containerd.runc.v2\n  runtimes:\n    gvisor:\n      runtimeType: io.containerd.runsc.v1\n",
  );
  assert.equal(runtimeOf(c, ""), "io.containerd.runc.v2");
  assert.equal(runtimeOf(c, "gvisor"), "io.containerd.runsc.v1");
  assert.equal(runtimeOf(c, "runc"), "io.containerd.runc.v2", "the defaults stay beside added handlers");
});

test("deploy/cri.yaml states the default shim grouping and streaming limits", () => {
  const deployed = readFileSync(new URL("../../../deploy/cri.yaml", import.meta.url), "utf8");
  assert.deepEqual(parseCriConfig(deployed).shim, defaultCriConfig.shim);
  assert.deepEqual(parseCriConfig(deployed).streaming, defaultCriConfig.streaming);
});

test("registry.configPath names containerd's hosts directory; auth may go with it", () => {
  const c = parseCriConfig("registry:\n  configPath: /etc/containerd/certs.d\n  auth: {}\n");
  assert.deepEqual(c.registry, { configPath: "/etc/containerd/certs.d", auth: {} });
});

test("bad files fail with one message naming the key", () => {
  const bad: Array<[string, RegExp]> = [
    ["root: relative", /root: must be an absolute path/],
    ["containerd:\n  adress: /x", /containerd\.adress: unknown key/],
    ["streaming:\n  address: nowhere", /streaming\.address: expected host:port/],
    ["streaming:\n  tokenTtlSeconds: 0", /streaming\.tokenTtlSeconds: expected a positive integer/],
    ["streaming:\n  idleTimeoutSeconds: 1.5", /streaming\.idleTimeoutSeconds: expected a positive integer/],
    ["registry:\n  mirrors:\n    docker.io: http://x", /mirrors\.docker\.io must be a list/],
    [
      "registry:\n  configPath: /etc/containerd/certs.d\n  plainHttp: [127.0.0.1:5000]",
      /registry: configPath and plainHttp cannot both be given/,
    ],
    ["registry:\n  configPath: certs.d", /registry: configPath must be the absolute path/],
    ["logLevel: loud", /logLevel: must be one of/],
    ["containerd:\n  runtimes: [runc]", /containerd\.runtimes: expected a map/],
    [
      "containerd:\n  runtimes:\n    x: io.containerd.runc.v2",
      /containerd\.runtimes\.x: expected \{ runtimeType/,
    ],
    [
      "containerd:\n  runtimes:\n    x:\n      runtimeType: runc",
      /containerd\.runtimes\.x\.runtimeType: expected a runtime name/,
    ],
    [
      "containerd:\n  runtimes:\n    x:\n      runtime_type: io.containerd.runc.v2",
      /containerd\.runtimes\.x: unknown key runtime_type/,
    ],
    ["root: [", /not valid YAML/],
    ["shim:\n  policy: per-node", /shim\.policy: must be one of per-pod, per-container, pooled/],
    ["shim:\n  poolSize: 0", /shim\.poolSize: expected a positive integer/],
    ["shim:\n  poolSize: 2.5", /shim\.poolSize: expected a positive integer/],
    ["shim:\n  poolSize: eight", /shim\.poolSize: expected a number/],
  ];
  for (const [text, message] of bad) {
    assert.throws(
      () => parseCriConfig(text, "cri.yaml"),
      (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^cri\.yaml: /);
        assert.match(err.message, message);
        assert.equal(err.message.includes("\n"), false);
        return true;
      },
    );
  }
});

test("berth-cri config default prints every key, and parses back to the defaults", async () => {
  const { execFileSync } = await import("node:child_process");
  const main = new URL("./main.js", import.meta.url).pathname;
  const printed = execFileSync(process.execPath, [main, "config", "default"], { encoding: "utf8" });
  assert.deepEqual(parseCriConfig(printed), defaultCriConfig);
  assert.match(printed, /^ {2}runtimes:$/m);
});
