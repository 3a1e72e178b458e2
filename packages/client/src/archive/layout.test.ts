import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256Digest } from "../identity.js";
import type { PlatformDescriptor } from "../manifests.js";
import { ANNOTATION_REF_NAME, MediaType } from "../media-types.js";
import {
  ANNOTATION_IMAGE_NAME,
  type ArchiveFile,
  dockerManifestJson,
  exportIndex,
  familiarName,
  importedImages,
  readLayout,
} from "./layout.js";

const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const manifest = (digest: string, annotations: Record<string, string> = {}): PlatformDescriptor => ({
  mediaType: MediaType.ociManifest,
  digest,
  size: 100,
  annotations,
});
const file = (name: string, content: string | Buffer, gzip = false): ArchiveFile => {
  const data = Buffer.from(content);
  return {
    name,
    size: data.length,
    digest: sha256Digest(data),
    gzip,
    ...(data[0] === 0x7b || data[0] === 0x5b ? { data } : {}),
  };
};
const files = (...list: ArchiveFile[]) => new Map(list.map((f) => [f.name, f]));

test("importedImages names images as ctr import does", () => {
  const now = new Date("2026-03-04T10:00:00Z");
  const manifests = [
    manifest(d(1), { [ANNOTATION_IMAGE_NAME]: "docker.io/library/busybox:1", [ANNOTATION_REF_NAME]: "1" }),
    manifest(d(2), { [ANNOTATION_REF_NAME]: "latest" }),
    manifest(d(3), { [ANNOTATION_REF_NAME]: "example.com/other/app:2" }),
    manifest(d(4)),
  ];
  assert.deepEqual(
    importedImages(manifests, { now }).map((i) => i.name),
    ["docker.io/library/busybox:1", "import-2026-03-04:latest", "example.com/other/app:2"],
  );
  // --base-name filters full names and puts bare tags after it.
  assert.deepEqual(
    importedImages(manifests, { baseName: "example.com/other/app", now }).map((i) => i.name),
    ["example.com/other/app:latest", "example.com/other/app:2"],
  );
  // A shared leading string is not a prefix: example.com/other/ap is not example.com/other/app.
  assert.deepEqual(
    importedImages([manifests[2] as PlatformDescriptor], { baseName: "example.com/other/ap" }).map(
      (i) => i.name,
    ),
    [],
  );
  // --digests names every image by digest too, unless it is named and --skip-digest-for-named.
  assert.deepEqual(
    importedImages([manifests[1], manifests[3]] as PlatformDescriptor[], {
      baseName: "foo/bar",
      digests: true,
      skipDigestForNamed: true,
    }).map((i) => i.name),
    ["foo/bar:latest", `foo/bar@${d(4)}`],
  );
});

test("readLayout reads an OCI layout's index.json", () => {
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [manifest(d(1), { [ANNOTATION_REF_NAME]: "v1" })],
  });
  const layout = readLayout(
    files(file("oci-layout", '{"imageLayoutVersion":"1.0.0"}'), file("index.json", index)),
  );
  assert.equal(layout.format, "oci");
  assert.equal(layout.manifests[0]?.digest, d(1));
  assert.equal(layout.manifests[0]?.annotations[ANNOTATION_REF_NAME], "v1");
});

test("readLayout turns a Docker archive's manifest.json into schema 2 manifests", () => {
  const config = file("abc.json", '{"rootfs":{"type":"layers","diff_ids":[]}}');
  const plainLayer = file("l1/layer.tar", Buffer.alloc(1024));
  const gzipLayer = file("l2/layer.tar", Buffer.from([0x1f, 0x8b, 8, 0]), true);
  const entries = [
    {
      Config: "abc.json",
      RepoTags: ["busybox:1", "example.com/a/b:2"],
      Layers: ["l1/layer.tar", "./l2/layer.tar"],
    },
  ];
  const layout = readLayout(
    files(config, plainLayer, gzipLayer, file("manifest.json", JSON.stringify(entries))),
  );
  assert.equal(layout.format, "docker");
  assert.deepEqual(
    layout.manifests.map((m) => m.annotations[ANNOTATION_IMAGE_NAME]),
    ["docker.io/library/busybox:1", "example.com/a/b:2"],
  );
  const target = layout.manifests[0];
  assert.ok(target !== undefined);
  assert.equal(target.mediaType, MediaType.dockerManifest);
  const doc = JSON.parse(layout.generated.get(target.digest)?.toString() ?? "{}");
  assert.equal(doc.config.digest, config.digest);
  assert.equal(doc.config.mediaType, MediaType.dockerConfig);
  assert.deepEqual(
    doc.layers.map((l: { mediaType: string; digest: string }) => [l.mediaType, l.digest]),
    [
      [MediaType.dockerLayer, plainLayer.digest],
      [MediaType.dockerLayerGzip, gzipLayer.digest],
    ],
  );
  assert.equal(layout.fileOf.get(plainLayer.digest)?.name, "l1/layer.tar");
});

test("readLayout says which file is missing", () => {
  assert.throws(() => readLayout(files(file("oci-layout", "{}"))), /neither index\.json nor manifest\.json/);
  const entries = [{ Config: "abc.json", RepoTags: [], Layers: ["l1/layer.tar"] }];
  assert.throws(
    () => readLayout(files(file("abc.json", "{}"), file("manifest.json", JSON.stringify(entries)))),
    /names layer 0 of image 0 l1\/layer\.tar, which the archive does not contain/,
  );
  const misnamed = { ...file("x", "data"), name: `blobs/sha256/${"0".repeat(64)}` };
  assert.throws(
    () => readLayout(files(misnamed, file("index.json", '{"manifests":[]}'))),
    /has digest .* corrupt/,
  );
});

test("exportIndex and dockerManifestJson name images as ctr export does", () => {
  const target = manifest(d(1));
  const config = { mediaType: MediaType.ociConfig, digest: d(2), size: 10, annotations: {} };
  const layers = [{ mediaType: MediaType.ociLayerGzip, digest: d(3), size: 10, annotations: {} }];
  const exported = [
    { name: "docker.io/library/busybox:1", target, manifest: { config, layers } },
    { name: "127.0.0.1:5000/team/app:v2", target, manifest: { config, layers } },
    { name: "docker.io/library/multi:1", target: { ...target, digest: d(9) } },
  ];
  const index = JSON.parse(exportIndex(exported).toString());
  assert.deepEqual(
    index.manifests.map((m: PlatformDescriptor) => [
      m.annotations[ANNOTATION_IMAGE_NAME],
      m.annotations[ANNOTATION_REF_NAME],
    ]),
    [
      ["docker.io/library/busybox:1", "1"],
      ["127.0.0.1:5000/team/app:v2", "v2"],
      ["docker.io/library/multi:1", "1"],
    ],
  );
  // One entry per config; the image exported for all platforms has none.
  assert.deepEqual(JSON.parse(dockerManifestJson(exported)?.toString() ?? "null"), [
    {
      Config: `blobs/sha256/${d(2).slice(7)}`,
      RepoTags: ["busybox:1", "127.0.0.1:5000/team/app:v2"],
      Layers: [`blobs/sha256/${d(3).slice(7)}`],
    },
  ]);
  assert.equal(dockerManifestJson([exported[2] as (typeof exported)[number]]), undefined);
});

test("familiarName shortens Docker Hub names the way docker save writes RepoTags", () => {
  assert.equal(familiarName("docker.io/library/busybox:latest"), "busybox:latest");
  assert.equal(familiarName("docker.io/team/app:1"), "team/app:1");
  assert.equal(familiarName("quay.io/a/b:2"), "quay.io/a/b:2");
  assert.equal(familiarName(`docker.io/library/busybox@${d(1)}`), undefined);
});
