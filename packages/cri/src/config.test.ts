import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, defaultCriConfig, parseCriConfig } from "./config.js";

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

test("bad files fail with one message naming the key", () => {
  const bad: Array<[string, RegExp]> = [
    ["root: relative", /root: must be an absolute path/],
    ["containerd:\n  adress: /x", /containerd\.adress: unknown key/],
    ["streaming:\n  address: nowhere", /streaming\.address: expected host:port/],
    ["registry:\n  mirrors:\n    docker.io: http://x", /mirrors\.docker\.io must be a list/],
    ["logLevel: loud", /logLevel: must be one of/],
    ["root: [", /not valid YAML/],
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
