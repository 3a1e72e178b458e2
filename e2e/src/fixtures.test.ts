// End-to-end check of the shared fixtures: images built by fixtures/images.ts, pushed to
// a private docker-registry, pulled and unpacked by Debian's containerd through Debian's
// ctr, must show exactly the files the fixture promises. The same assertions are meant
// to run against berthd.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { type Containerd, startContainerd } from "./fixtures/containerd.js";
import { ctrOk, parseTable } from "./fixtures/ctr.js";
import {
  type ExpectedFiles,
  MediaTypes,
  buildIndexImage,
  buildLargeImage,
  buildSimpleImage,
  buildTestImage,
  chainId,
} from "./fixtures/images.js";
import { mountAll, mountsUnder, parseMountCommands, unmount } from "./fixtures/mounts.js";
import { parseCmdline } from "./fixtures/proc.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { verifyRootfs } from "./fixtures/rootfs.js";
import { cleanupTempDirs, freePort, removeDir, tempDir, waitFor } from "./fixtures/tmp.js";

const NS = "berth-fixtures";

describe("fixture helpers", () => {
  it("parseCmdline reads NUL-separated arguments, and a process title's words", () => {
    assert.deepEqual(parseCmdline("node\0/x/main.js\0-id\0a b\0"), ["node", "/x/main.js", "-id", "a b"]);
    assert.deepEqual(parseCmdline("containerd-shim-berth-v2 -namespace ns -id a\0\0\0"), [
      "containerd-shim-berth-v2",
      "-namespace",
      "ns",
      "-id",
      "a",
    ]);
  });

  it("parseTable reads tabwriter columns separated by a single space and cells with spaces", () => {
    // Captured from `ctr images ls` (containerd 1.6.20).
    const da = "sha256:80046af3d70f3977c30fcbeda77e47aa74ffb5091ac64e0796ac5ed4f0725046";
    const db = "sha256:65102b0ce17b7c076164490ab9bfeca1a31e9531801ca91d725317eb7c0ee479";
    const out = [
      "REF                                TYPE                                       DIGEST                                                                  SIZE    PLATFORMS                  LABELS ",
      `127.0.0.1:37487/berth/index:latest application/vnd.oci.image.index.v1+json    ${da} 1.0 MiB linux/amd64,linux/arm64/v8 -      `,
      `127.0.0.1:37487/berth/test:multi   application/vnd.oci.image.manifest.v1+json ${db} 1.0 MiB linux/amd64                -      `,
      "",
    ].join("\n");
    assert.deepEqual(parseTable(out), [
      {
        REF: "127.0.0.1:37487/berth/index:latest",
        TYPE: "application/vnd.oci.image.index.v1+json",
        DIGEST: da,
        SIZE: "1.0 MiB",
        PLATFORMS: "linux/amd64,linux/arm64/v8",
        LABELS: "-",
      },
      {
        REF: "127.0.0.1:37487/berth/test:multi",
        TYPE: "application/vnd.oci.image.manifest.v1+json",
        DIGEST: db,
        SIZE: "1.0 MiB",
        PLATFORMS: "linux/amd64",
        LABELS: "-",
      },
    ]);
  });

  it("parseTable keeps multi-word headers, empty cells and tab-separated output", () => {
    const spaced =
      "ID     CREATED AT           LABELS \n" +
      "lease1 2024-01-01T00:00:00Z a=b    \n" +
      "l2     2024-01-02T00:00:00Z        \n";
    assert.deepEqual(parseTable(spaced), [
      { ID: "lease1", "CREATED AT": "2024-01-01T00:00:00Z", LABELS: "a=b" },
      { ID: "l2", "CREATED AT": "2024-01-02T00:00:00Z", LABELS: "" },
    ]);
    const tabbed = "DIGEST\t\t\tSIZE\tAGE\t\tLABELS\nsha256:x\t405B\tLess than a second\tk=v,k2=v2\n";
    assert.deepEqual(parseTable(tabbed), [
      { DIGEST: "sha256:x", SIZE: "405B", AGE: "Less than a second", LABELS: "k=v,k2=v2" },
    ]);
    assert.deepEqual(parseTable(""), []);
  });

  it("parseMountCommands reads ctr's `mount -t TYPE SOURCE TARGET -o OPTIONS` lines", () => {
    const out =
      "mount -t overlay overlay /mnt/x -o index=off,workdir=/s/4/work,upperdir=/s/4/fs,lowerdir=/s/3/fs:/s/1/fs\n" +
      "mount -t bind /s/1/fs /mnt/y -o ro,rbind\n";
    assert.deepEqual(parseMountCommands(out), [
      {
        type: "overlay",
        source: "overlay",
        target: "/mnt/x",
        options: ["index=off", "workdir=/s/4/work", "upperdir=/s/4/fs", "lowerdir=/s/3/fs:/s/1/fs"],
      },
      { type: "bind", source: "/s/1/fs", target: "/mnt/y", options: ["ro", "rbind"] },
    ]);
    assert.throws(() => parseMountCommands("mount something else\n"), /unexpected mount command/);
  });

  it("chainId follows containerd's identity.ChainID", () => {
    assert.equal(chainId(["sha256:a"]), "sha256:a");
    const ab = `sha256:${createHash("sha256").update("sha256:a sha256:b").digest("hex")}`;
    assert.equal(chainId(["sha256:a", "sha256:b"]), ab);
    const abc = `sha256:${createHash("sha256").update(`${ab} sha256:c`).digest("hex")}`;
    assert.equal(chainId(["sha256:a", "sha256:b", "sha256:c"]), abc);
  });

  it("freePort and waitFor", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
    let n = 0;
    assert.equal(
      await waitFor(() => ++n >= 3 && n, { what: "three calls", timeoutMs: 2_000, intervalMs: 1 }),
      3,
    );
    await assert.rejects(
      waitFor(() => false, { what: "something that never happens", timeoutMs: 50, intervalMs: 10 }),
      /waiting for something that never happens/,
    );
  });
});

describe("fixture images unpacked by Debian's containerd", { timeout: 600_000 }, () => {
  let registry: Registry | undefined;
  let containerd: Containerd | undefined;
  let snapshotCounter = 0;

  before(async () => {
    registry = await startRegistry();
    containerd = await startContainerd();
  });

  after(async () => {
    await containerd?.stop();
    await registry?.stop();
    await cleanupTempDirs();
  });

  const reg = (): Registry => registry ?? assert.fail("registry not started");
  const ctd = (): Containerd => containerd ?? assert.fail("containerd not started");

  async function pull(ref: string, extra: string[] = []): Promise<string> {
    const r = await ctrOk(
      ctd().address,
      ["images", "pull", "--plain-http", "--print-chainid", ...extra, ref],
      {
        namespace: NS,
        timeoutMs: 300_000,
      },
    );
    const m = /image chain ID: (sha256:[0-9a-f]{64})/.exec(r.stdout);
    assert.ok(m, `no chain ID in ctr pull output:\n${r.stdout}`);
    return m[1]!;
  }

  async function imageRow(ref: string): Promise<Record<string, string>> {
    const rows = parseTable((await ctrOk(ctd().address, ["images", "ls"], { namespace: NS })).stdout);
    const row = rows.find((r) => r.REF === ref);
    assert.ok(row, `${ref} not in ctr images ls: ${JSON.stringify(rows)}`);
    return row;
  }

  /** Prepares an active snapshot on `parent`, mounts it as ctr says, and checks it against `files`. */
  async function assertSnapshotShows(parent: string, files: ExpectedFiles): Promise<void> {
    const address = ctd().address;
    const key = `fixture-check-${++snapshotCounter}`;
    const target = await tempDir("rootfs");
    await ctrOk(address, ["snapshots", "prepare", key, parent], { namespace: NS });
    try {
      const out = (await ctrOk(address, ["snapshots", "mounts", target, key], { namespace: NS })).stdout;
      const specs = parseMountCommands(out);
      assert.equal(specs.length, 1, out);
      assert.equal(specs[0]!.type, "overlay", out);
      assert.equal(specs[0]!.target, target, out);
      assert.ok(
        specs[0]!.options.some((o) => o.startsWith("lowerdir=")),
        out,
      );
      await mountAll(specs, target);
      try {
        assert.equal((await mountsUnder(target)).length, 1);
        const problems = await verifyRootfs(target, files);
        assert.deepEqual(problems, [], `unpacked rootfs differs from the image:\n${problems.join("\n")}`);
        // The verifier itself must notice differences.
        const first = files.present.find((e) => e.type === "file");
        assert.ok(first?.type === "file");
        const wrong: ExpectedFiles = {
          present: [
            { ...first, mode: first.mode ^ 0o4000, sha256: `sha256:${"0".repeat(64)}` },
            { path: "/no/such/file", type: "symlink", target: "x" },
          ],
          absent: [first.path],
        };
        assert.equal((await verifyRootfs(target, wrong)).length, 4);
      } finally {
        await unmount(target);
      }
    } finally {
      await ctrOk(address, ["snapshots", "rm", key], { namespace: NS });
      await removeDir(target);
    }
  }

  it("the multi-layer OCI image unpacks with whiteouts, links, owners and modes applied", async () => {
    const image = await buildTestImage(reg().host);
    assert.equal(image.mediaType, MediaTypes.ociManifest);
    assert.equal(image.layers.length, 3);
    assert.equal(image.ref, `${reg().host}/berth/test:multi`);

    const chain = await pull(image.ref);
    assert.equal(chain, image.chainId);

    const row = await imageRow(image.ref);
    assert.equal(row.TYPE, MediaTypes.ociManifest);
    assert.equal(row.DIGEST, image.manifestDigest);
    assert.equal(row.PLATFORMS, "linux/amd64");

    // The committed snapshot chain is keyed by chain IDs, one per layer.
    const snaps = parseTable((await ctrOk(ctd().address, ["snapshots", "ls"], { namespace: NS })).stdout);
    const top = snaps.find((s) => s.KEY === image.chainId);
    assert.ok(top, JSON.stringify(snaps));
    assert.equal(top.KIND, "Committed");
    assert.equal(top.PARENT, chainId(image.layers.slice(0, 2).map((l) => l.diffId)));

    // Sanity: the expectations cover what the brief promises.
    const present = new Map(image.files.present.map((e) => [e.path, e]));
    assert.deepEqual(present.get("/data/link"), { path: "/data/link", type: "symlink", target: "keep.txt" });
    const suid = present.get("/data/suid");
    assert.ok(suid?.type === "file" && suid.mode === 0o4755);
    assert.ok(image.files.absent.includes("/data/remove-me.txt"));
    assert.ok(image.files.absent.includes("/data/opaque/old.txt"));

    await assertSnapshotShows(image.chainId, image.files);
  });

  it("the Docker schema 2 variant has Docker media types and unpacks to the same tree", async () => {
    const image = await buildTestImage(reg().host, "berth/test", "docker", { format: "docker" });
    assert.equal(image.mediaType, MediaTypes.dockerManifest);
    for (const layer of image.layers) assert.equal(layer.mediaType, MediaTypes.dockerLayerGzip);
    const config = await fetch(`http://${reg().host}/v2/berth/test/manifests/docker`, {
      headers: { Accept: MediaTypes.dockerManifest },
      signal: AbortSignal.timeout(10_000),
    }).then((r) => r.json() as Promise<{ config: { mediaType: string } }>);
    assert.equal(config.config.mediaType, MediaTypes.dockerConfig);

    assert.equal(await pull(image.ref), image.chainId);
    const row = await imageRow(image.ref);
    assert.equal(row.TYPE, MediaTypes.dockerManifest);
    assert.equal(row.DIGEST, image.manifestDigest);
    await assertSnapshotShows(image.chainId, image.files);
  });

  it("the multi-platform index lists amd64 and arm64 and unpacks the amd64 image", async () => {
    const index = await buildIndexImage(reg().host, "berth/index", "multiarch");
    assert.equal(index.mediaType, MediaTypes.ociIndex);
    assert.deepEqual(
      index.manifests.map((m) => m.platform),
      [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm64", os: "linux", variant: "v8" },
      ],
    );
    const [amd64, arm64] = index.manifests as [(typeof index.manifests)[0], (typeof index.manifests)[0]];
    assert.notEqual(amd64.manifestDigest, arm64.manifestDigest);
    assert.equal(amd64.layers[0]!.digest, arm64.layers[0]!.digest);

    assert.equal(await pull(index.ref), amd64.chainId);
    const row = await imageRow(index.ref);
    assert.equal(row.TYPE, MediaTypes.ociIndex);
    assert.equal(row.DIGEST, index.indexDigest);
    assert.equal(row.PLATFORMS, "linux/amd64,linux/arm64/v8");

    // Selecting the other platform resolves the arm64 manifest and its config.
    await pull(index.ref, ["--platform", "linux/arm64/v8"]);
    const armConfig = JSON.parse(
      (await ctrOk(ctd().address, ["content", "get", arm64.configDigest], { namespace: NS })).stdout,
    ) as { architecture: string; variant?: string };
    assert.equal(armConfig.architecture, "arm64");
    assert.equal(armConfig.variant, "v8");

    const simple = await buildSimpleImage(reg().host);
    await assertSnapshotShows(amd64.chainId, simple.files);
  });

  it("the simple image and a small large image pull and unpack", async () => {
    const simple = await buildSimpleImage(reg().host, "berth/busybox", "latest");
    assert.equal(simple.layers.length, 1);
    assert.equal(await pull(simple.ref), simple.chainId);

    const large = await buildLargeImage(reg().host, "berth/large", "small", 12, 3);
    assert.equal(large.layers.length, 3);
    const compressed = large.layers.reduce((n, l) => n + l.size, 0);
    assert.ok(
      compressed > 11 * 1024 * 1024 && compressed < 14 * 1024 * 1024,
      `compressed size ${compressed}`,
    );
    assert.equal(await pull(large.ref), large.chainId);
    const snaps = parseTable((await ctrOk(ctd().address, ["snapshots", "ls"], { namespace: NS })).stdout);
    assert.ok(snaps.some((s) => s.KEY === large.chainId && s.KIND === "Committed"));
  });
});
