import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Options } from "@berth/api/containerd/runtime/v2/runc/options/oci";
import { decodeOptions } from "./options.js";

describe("runtime options", () => {
  it("defaults when the daemon sends none", () => {
    assert.equal(decodeOptions(undefined).binaryName, "");
    assert.equal(decodeOptions({ typeUrl: "", value: Buffer.alloc(0) }).root, "");
  });

  it("decodes containerd.runc.v1.Options with or without a URL prefix", () => {
    const value = Buffer.from(
      Options.encode(Options.fromPartial({ binaryName: "crun", root: "/r" })).finish(),
    );
    assert.equal(decodeOptions({ typeUrl: "containerd.runc.v1.Options", value }).binaryName, "crun");
    assert.equal(decodeOptions({ typeUrl: "types.example/containerd.runc.v1.Options", value }).root, "/r");
  });

  it("refuses other option types with InvalidArgument", () => {
    assert.throws(
      () => decodeOptions({ typeUrl: "runtimeoptions.v1.Options", value: Buffer.alloc(0) }),
      (err: Error & { code?: number }) => err.code === 3 && /unsupported runtime options/.test(err.message),
    );
  });
});
