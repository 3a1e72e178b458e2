import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isKind } from "./errdefs.js";
import { archOf, formatPlatform, normalize, onlyPlatform, parsePlatform } from "./platforms.js";

describe("platforms", () => {
  test("Node's architectures in OCI terms", () => {
    assert.equal(archOf("x64"), "amd64");
    assert.equal(archOf("arm64"), "arm64");
    assert.equal(archOf("ia32"), "386");
  });

  test("parse and format", () => {
    assert.deepEqual(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
    assert.deepEqual(parsePlatform("linux/arm/v6"), { os: "linux", architecture: "arm", variant: "v6" });
    assert.deepEqual(parsePlatform("linux/aarch64"), { os: "linux", architecture: "arm64" });
    assert.deepEqual(parsePlatform("arm64"), { os: "linux", architecture: "arm64" });
    assert.equal(formatPlatform(parsePlatform("linux/arm")), "linux/arm/v7");
    assert.equal(formatPlatform(parsePlatform("linux/x86_64")), "linux/amd64");
    for (const bad of ["", "linux/", "a/b/c/d", "plan10/amd64", "linux/am d64"]) {
      assert.throws(
        () => parsePlatform(bad),
        (err: unknown) => isKind(err, "InvalidArgument"),
        bad,
      );
    }
  });

  test("normalize treats arm64/v8 as arm64", () => {
    assert.deepEqual(normalize({ os: "linux", architecture: "arm64", variant: "v8" }), {
      os: "linux",
      architecture: "arm64",
    });
    assert.deepEqual(normalize({ os: "Linux", architecture: "armhf" }), {
      os: "linux",
      architecture: "arm",
      variant: "v7",
    });
  });

  test("onlyPlatform matches the platform, then what it can also run, in order", () => {
    const amd64 = onlyPlatform({ os: "linux", architecture: "amd64" });
    assert.ok(amd64.match({ os: "linux", architecture: "amd64" }));
    assert.ok(!amd64.match({ os: "linux", architecture: "arm64", variant: "v8" }));
    assert.ok(!amd64.match({ os: "windows", architecture: "amd64" }));

    const arm64 = onlyPlatform({ os: "linux", architecture: "arm64" });
    assert.equal(arm64.rank({ os: "linux", architecture: "arm64", variant: "v8" }), 0);
    assert.ok(arm64.rank({ os: "linux", architecture: "arm", variant: "v7" }) > 0);
    assert.ok(
      arm64.rank({ os: "linux", architecture: "arm", variant: "v7" }) <
        arm64.rank({ os: "linux", architecture: "arm", variant: "v6" }),
    );
    assert.ok(
      !onlyPlatform({ os: "linux", architecture: "arm", variant: "v6" }).match({
        os: "linux",
        architecture: "arm",
        variant: "v7",
      }),
    );
  });
});
