import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FlagError, parseFlags } from "./flags.js";

describe("parseFlags", () => {
  it("reads containerd's start command line", () => {
    const f = parseFlags([
      "-namespace",
      "default",
      "-address",
      "/run/containerd/containerd.sock",
      "-publish-binary",
      "/usr/bin/containerd",
      "-id",
      "t1",
      "-debug",
      "start",
    ]);
    assert.equal(f.namespace, "default");
    assert.equal(f.address, "/run/containerd/containerd.sock");
    assert.equal(f.publishBinary, "/usr/bin/containerd");
    assert.equal(f.id, "t1");
    assert.equal(f.debug, true);
    assert.equal(f.action, "start");
  });

  it("accepts --name value, -name=value and stops at the first positional argument", () => {
    const f = parseFlags(["--namespace", "ns", "--id=x", "-bundle=/b", "delete", "-debug"]);
    assert.equal(f.namespace, "ns");
    assert.equal(f.id, "x");
    assert.equal(f.bundle, "/b");
    assert.equal(f.action, "delete");
    assert.equal(f.debug, false);
    assert.equal(parseFlags(["-debug=false", "--", "-x"]).action, "-x");
    assert.equal(parseFlags(["-namespace", "n"]).action, "");
  });

  it("rejects unknown flags and missing values like Go does", () => {
    assert.throws(() => parseFlags(["-nope"]), FlagError);
    assert.throws(() => parseFlags(["-id"]), /needs an argument/);
    assert.throws(() => parseFlags(["-debug=maybe"]), /invalid boolean/);
    assert.throws(() => parseFlags(["---id", "x"]), /bad flag syntax/);
  });
});
