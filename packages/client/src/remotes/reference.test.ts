import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isKind } from "../errdefs.js";
import { formatReference, parseReference, referenceHostname, referenceObject } from "./reference.js";

const digest = `sha256:${"ab".repeat(32)}`;

describe("parseReference", () => {
  const normalised: Array<[string, string]> = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["docker.io/busybox", "docker.io/library/busybox:latest"],
    ["index.docker.io/library/busybox:1", "docker.io/library/busybox:1"],
    ["someone/app", "docker.io/someone/app:latest"],
    ["ghcr.io/org/team/app:v1.2.3", "ghcr.io/org/team/app:v1.2.3"],
    ["127.0.0.1:5000/berth/test:multi", "127.0.0.1:5000/berth/test:multi"],
    ["localhost/app", "localhost/app:latest"],
    ["localhost:5000/app", "localhost:5000/app:latest"],
    ["registry.example/a_b/c__d/e-f--g.h", "registry.example/a_b/c__d/e-f--g.h:latest"],
    [`busybox@${digest}`, `docker.io/library/busybox@${digest}`],
    // A tag beside a digest is dropped: the digest is what is pulled.
    [`127.0.0.1:5000/x:tag@${digest}`, `127.0.0.1:5000/x@${digest}`],
    ["[::1]:5000/app:1", "[::1]:5000/app:1"],
    ["Registry/app", "Registry/app:latest"],
  ];
  for (const [input, want] of normalised) {
    test(`${input} → ${want}`, () => {
      assert.equal(formatReference(parseReference(input)), want);
    });
  }

  test("splits domain, path, tag and digest", () => {
    assert.deepEqual(parseReference("127.0.0.1:5000/berth/test:multi"), {
      domain: "127.0.0.1:5000",
      path: "berth/test",
      tag: "multi",
    });
    assert.deepEqual(parseReference(`quay.io/x/y@${digest}`), { domain: "quay.io", path: "x/y", digest });
  });

  const invalid = [
    "",
    "Busybox",
    "docker.io/Library/busybox",
    "busybox:",
    "busybox:-bad",
    `busybox:${"t".repeat(129)}`,
    "busybox@sha256:abc",
    `busybox@md5:${"a".repeat(32)}`,
    `busybox@sha256:${"AB".repeat(32)}`,
    "a".repeat(64),
    "host:5000/",
    "host/-leading",
    "host/a//b",
    `${"a".repeat(250)}/bcdefghij`,
  ];
  for (const input of invalid) {
    test(`rejects ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`, () => {
      assert.throws(
        () => parseReference(input),
        (err: unknown) => isKind(err, "InvalidArgument") && /invalid image reference/.test(String(err)),
      );
    });
  }
});

test("referenceObject is the digest when there is one, else the tag", () => {
  assert.equal(referenceObject(parseReference("busybox")), "latest");
  assert.equal(referenceObject(parseReference(`busybox:1@${digest}`)), digest);
});

test("referenceHostname drops the port, as containerd's distribution source labels do", () => {
  assert.equal(referenceHostname(parseReference("127.0.0.1:5000/a")), "127.0.0.1");
  assert.equal(referenceHostname(parseReference("busybox")), "docker.io");
  assert.equal(referenceHostname(parseReference("[::1]:5000/a")), "::1");
});
