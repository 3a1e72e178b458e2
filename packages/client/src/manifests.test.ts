import assert from "node:assert/strict";
import { test } from "node:test";
import { childGcLabels, parseIndex, parseManifest, platformChildren } from "./manifests.js";
import { MediaType } from "./media-types.js";
import { onlyPlatform } from "./platforms.js";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

test("childGcLabels names children the way containerd's gc reads them", () => {
  assert.deepEqual(
    childGcLabels([
      { mediaType: MediaType.ociConfig, digest: d(1), size: 1, annotations: {} },
      { mediaType: MediaType.ociLayerGzip, digest: d(2), size: 1, annotations: {} },
      { mediaType: MediaType.dockerLayerGzip, digest: d(3), size: 1, annotations: {} },
    ]),
    {
      "containerd.io/gc.ref.content.config": d(1),
      "containerd.io/gc.ref.content.l.0": d(2),
      "containerd.io/gc.ref.content.l.1": d(3),
    },
  );
  assert.deepEqual(
    childGcLabels([
      { mediaType: MediaType.ociManifest, digest: d(4), size: 1, annotations: {} },
      { mediaType: MediaType.dockerManifest, digest: d(5), size: 1, annotations: {} },
      { mediaType: MediaType.ociIndex, digest: d(6), size: 1, annotations: {} },
    ]),
    {
      "containerd.io/gc.ref.content.m.0": d(4),
      "containerd.io/gc.ref.content.m.1": d(5),
      "containerd.io/gc.ref.content.0": d(6),
    },
  );
});

test("parseManifest and parseIndex keep what the daemon needs", () => {
  const manifest = {
    schemaVersion: 2,
    config: { mediaType: MediaType.ociConfig, digest: d(1), size: 10 },
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: d(2), size: 20, annotations: { a: "b" } }],
  };
  assert.deepEqual(parseManifest(Buffer.from(JSON.stringify(manifest)), d(9)), {
    config: { mediaType: MediaType.ociConfig, digest: d(1), size: 10, annotations: {} },
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: d(2), size: 20, annotations: { a: "b" } }],
  });
  const index = {
    manifests: [
      {
        mediaType: MediaType.ociManifest,
        digest: d(3),
        size: 5,
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      },
      { mediaType: MediaType.ociManifest, digest: d(4), size: 5 },
      {
        mediaType: MediaType.ociManifest,
        digest: d(5),
        size: 5,
        platform: { os: "linux", architecture: "amd64" },
      },
    ],
  };
  const children = parseIndex(Buffer.from(JSON.stringify(index)), d(8));
  assert.deepEqual(children[0]?.platform, { os: "linux", architecture: "arm64", variant: "v8" });
  // The matching platform first, then children without a platform; others are left out.
  const picked = platformChildren(children, onlyPlatform({ os: "linux", architecture: "amd64" }));
  assert.deepEqual(
    picked.map((c) => c.digest),
    [d(5), d(4)],
  );
  assert.throws(() => parseManifest(Buffer.from("{}"), d(9)), /lacks a config or layers/);
  assert.throws(() => parseIndex(Buffer.from("not json"), d(9)), /not JSON/);
  assert.throws(
    () =>
      parseManifest(
        Buffer.from(JSON.stringify({ ...manifest, layers: [{ digest: "md5:x", size: 1 }] })),
        d(9),
      ),
    /unsupported digest/,
  );
});
