// berthctl's image commands beyond pull against berthd with a real registry, and the
// archives they write and read against Debian's ctr and a real containerd: tag, push (and
// pull back with ctr), export → ctr import on berthd and containerd, ctr export from
// containerd → berthctl import, a docker-save archive (manifest.json only), stdin and
// stdout, the errors for unknown images and broken archives, and info.
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { execa } from "execa";
import { type DaemonUnderTest, startBerthdDaemon, startContainerdDaemon } from "./daemons.js";
import { type AuthRegistry, startAuthRegistry } from "./fixtures/auth-registry.js";
import { ctrOk, parseTable } from "./fixtures/ctr.js";
import { type IndexImage, type PushedImage, buildIndexImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { tempDir } from "./fixtures/tmp.js";

const BERTHCTL = fileURLToPath(new URL("../../packages/cli/dist/main.js", import.meta.url));
const TIMEOUT = 120_000;

interface Result {
  exitCode: number;
  stdout: string;
  stderr: string;
}

let registry: Registry;
let image: PushedImage;
let index: IndexImage;
let berthd: DaemonUnderTest;
let containerd: DaemonUnderTest;
let dir: string;

before(async () => {
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/berthctl-images", "v1");
  index = await buildIndexImage(registry.host, "berth/berthctl-index", "v1");
  dir = await tempDir("berthctl-images-");
  berthd = await startBerthdDaemon();
  containerd = await startContainerdDaemon();
});
after(async () => {
  await berthd?.stop();
  await containerd?.stop();
  await registry?.stop();
});

const berthctl = async (
  ns: string,
  args: string[],
  options: { inputFile?: string; address?: string } = {},
): Promise<Result> => {
  const r = await execa(
    process.execPath,
    [BERTHCTL, "--address", options.address ?? berthd.address, "--namespace", ns, ...args],
    {
      reject: false,
      timeout: TIMEOUT,
      stripFinalNewline: false,
      ...(options.inputFile !== undefined ? { inputFile: options.inputFile } : { stdin: "ignore" }),
    },
  );
  return {
    exitCode: typeof r.exitCode === "number" ? r.exitCode : -1,
    stdout: String(r.stdout ?? ""),
    stderr: String(r.stderr ?? ""),
  };
};
const ok = async (ns: string, args: string[], options: { inputFile?: string; address?: string } = {}) => {
  const r = await berthctl(ns, args, options);
  assert.equal(
    r.exitCode,
    0,
    `berthctl ${args.join(" ")}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`,
  );
  return r;
};
const imageRows = async (d: DaemonUnderTest, ns: string) =>
  new Map(
    parseTable((await ctrOk(d.address, ["images", "ls"], { namespace: ns })).stdout).map((r) => [r.REF, r]),
  );
const snapshotKeys = async (d: DaemonUnderTest, ns: string) =>
  parseTable((await ctrOk(d.address, ["snapshots", "ls"], { namespace: ns })).stdout).map((r) => r.KEY);
const tarList = async (file: string) => (await execa("tar", ["-tf", file])).stdout.split("\n");
const tarJson = async (file: string, member: string) =>
  JSON.parse((await execa("tar", ["-xOf", file, member])).stdout) as unknown;

/** The tag's manifest digest as the registry serves it. */
async function registryDigest(name: string, tag: string, accept: string): Promise<string | null> {
  const res = await fetch(`${registry.url}/v2/${name}/manifests/${tag}`, {
    method: "HEAD",
    headers: { Accept: accept },
  });
  return res.ok ? res.headers.get("docker-content-digest") : null;
}

describe("berthctl images", { timeout: 20 * TIMEOUT }, () => {
  const ns = "berthctl-images";
  const pushed = () => `${registry.host}/berth/pushed:v2`;

  before(async () => {
    await ok(ns, ["images", "pull", "--plain-http", image.ref]);
  });

  test("tag gives an image more names; an existing name needs --force", async () => {
    const r = await ok(ns, ["images", "tag", image.ref, pushed(), `${registry.host}/berth/pushed:v3`]);
    assert.deepEqual(r.stdout.trim().split("\n"), [pushed(), `${registry.host}/berth/pushed:v3`]);
    const rows = await imageRows(berthd, ns);
    assert.equal(rows.get(pushed())?.DIGEST, image.manifestDigest);
    const again = await berthctl(ns, ["images", "tag", image.ref, pushed()]);
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /already exists: use --force/);
    await ok(ns, ["images", "tag", "--force", image.ref, pushed()]);
    const unknown = await berthctl(ns, ["images", "tag", "no/such:image", pushed()]);
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /image docker\.io\/no\/such:image not found: see 'berthctl images ls'/);
  });

  test("push sends the image; the registry serves it and ctr pulls it on containerd", async () => {
    const r = await ok(ns, ["images", "push", "--plain-http", pushed()]);
    // Plain lines without a terminal: each blob's states, then the summary.
    assert.match(r.stdout, new RegExp(`layer-${image.layers[0]?.digest}: +uploading`));
    assert.match(r.stdout, new RegExp(`manifest-${image.manifestDigest}: +done`));
    assert.match(r.stdout, /pushed 3 blob\(s\)/);
    assert.equal(await registryDigest("berth/pushed", "v2", image.mediaType), image.manifestDigest);
    await ctrOk(containerd.address, ["images", "pull", "--plain-http", pushed()], { namespace: ns });
    assert.equal((await imageRows(containerd, ns)).get(pushed())?.DIGEST, image.manifestDigest);
    // Pushed again: every blob is already there.
    const second = await ok(ns, ["images", "push", "--plain-http", pushed()]);
    assert.match(second.stdout, /pushed 1 blob\(s\).*2 already present/);
  });

  for (const scheme of ["basic", "bearer"] as const) {
    test(`push --user authenticates to a registry that wants credentials (${scheme})`, async () => {
      let auth: AuthRegistry | undefined;
      try {
        auth = await startAuthRegistry(registry.host, { scheme, username: "pusher", password: "s3cret" });
        const target = `${auth.host}/berth/auth-${scheme}:v1`;
        await ok(ns, ["images", "tag", image.ref, target]);
        const anonymous = await berthctl(ns, ["images", "push", "--plain-http", target]);
        assert.equal(anonymous.exitCode, 1);
        // The error says how to give credentials to this command.
        assert.match(anonymous.stderr, /add (them|credentials) with --user USER:PASSWORD/);
        const wrong = await berthctl(ns, [
          "images",
          "push",
          "--plain-http",
          "--user",
          "pusher:wrong",
          target,
        ]);
        assert.equal(wrong.exitCode, 1);
        assert.match(wrong.stderr, /credentials/);
        await ok(ns, ["images", "push", "--plain-http", "--user", "pusher:s3cret", target]);
        assert.equal(
          await registryDigest(`berth/auth-${scheme}`, "v1", image.mediaType),
          image.manifestDigest,
        );
        if (scheme === "bearer") {
          assert.ok(
            auth.scopesAsked.some((s) => s === `repository:berth/auth-${scheme}:pull,push`),
            JSON.stringify(auth.scopesAsked),
          );
        }
      } finally {
        await auth?.stop();
      }
    });
  }

  test("push of an image that is not here says so and what to do", async () => {
    const r = await berthctl(ns, ["images", "push", "--plain-http", `${registry.host}/berth/absent:v1`]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /image .*berth\/absent:v1 not found: pull or import it first/);
  });

  test("push of a multi-platform image: the whole index needs every platform, --platform sends one", async () => {
    await ok(ns, ["images", "pull", "--plain-http", index.ref]);
    const whole = await berthctl(ns, [
      "images",
      "push",
      "--plain-http",
      `${registry.host}/berth/index-copy:v1`,
      index.ref,
    ]);
    assert.equal(whole.exitCode, 1);
    assert.match(whole.stderr, /is not in the content store: .*--platform/);
    const amd64 = index.manifests.find((m) => m.platform.architecture === "amd64");
    assert.ok(amd64);
    await ok(ns, [
      "images",
      "push",
      "--plain-http",
      "--platform",
      "linux/amd64",
      `${registry.host}/berth/index-copy:v1`,
      index.ref,
    ]);
    assert.equal(await registryDigest("berth/index-copy", "v1", amd64.mediaType), amd64.manifestDigest);
    // With every platform's content (ctr pull --all-platforms), the index itself goes.
    await ctrOk(berthd.address, ["images", "pull", "--plain-http", "--all-platforms", index.ref], {
      namespace: ns,
    });
    await ok(ns, ["images", "push", "--plain-http", `${registry.host}/berth/index-all:v1`, index.ref]);
    assert.equal(await registryDigest("berth/index-all", "v1", index.mediaType), index.indexDigest);
  });

  test("export writes one OCI archive for several images, which ctr imports on berthd and containerd", async () => {
    const archive = join(dir, "berthctl-export.tar");
    const names = [image.ref, index.ref];
    await ok(ns, ["images", "export", archive, ...names]);
    const members = await tarList(archive);
    for (const m of [
      "oci-layout",
      "index.json",
      "manifest.json",
      `blobs/sha256/${image.configDigest.slice(7)}`,
    ]) {
      assert.ok(members.includes(m), `archive lacks ${m}: ${members.join(" ")}`);
    }
    const idx = (await tarJson(archive, "index.json")) as {
      manifests: Array<{ digest: string; annotations: Record<string, string> }>;
    };
    assert.deepEqual(
      idx.manifests.map((m) => [m.annotations["io.containerd.image.name"], m.digest]),
      [
        [image.ref, image.manifestDigest],
        [index.ref, index.indexDigest],
      ],
    );
    const docker = (await tarJson(archive, "manifest.json")) as Array<{ RepoTags: string[] }>;
    assert.ok(
      docker.some((e) => e.RepoTags.includes(image.ref)),
      JSON.stringify(docker),
    );
    for (const d of [berthd, containerd]) {
      await ctrOk(d.address, ["images", "import", archive], { namespace: "ctr-imported" });
      const rows = await imageRows(d, "ctr-imported");
      assert.equal(
        rows.get(image.ref)?.DIGEST,
        image.manifestDigest,
        `${d.kind}: ${JSON.stringify([...rows])}`,
      );
      assert.equal(rows.get(index.ref)?.DIGEST, index.indexDigest, d.kind);
      assert.ok((await snapshotKeys(d, "ctr-imported")).includes(image.chainId), `${d.kind} did not unpack`);
    }
  });

  test("multi-platform archives: --all-platforms exports every manifest; importing all of a cut archive says what is missing", async () => {
    const all = join(dir, "all-platforms.tar");
    await ok(ns, ["images", "export", "--all-platforms", all, index.ref]);
    const members = await tarList(all);
    for (const m of index.manifests)
      assert.ok(members.includes(`blobs/sha256/${m.manifestDigest.slice(7)}`), m.manifestDigest);
    await ctrOk(containerd.address, ["images", "import", "--all-platforms", all], {
      namespace: "all-platforms",
    });
    const check = parseTable(
      (await ctrOk(containerd.address, ["images", "check"], { namespace: "all-platforms" })).stdout,
    );
    assert.match(check.find((c) => c.REF === index.ref)?.STATUS ?? "", /^complete/, JSON.stringify(check));
    // The archive of the earlier export holds this machine's platform only.
    const cut = join(dir, "berthctl-export.tar");
    const r = await berthctl("cut", ["images", "import", "--all-platforms", cut]);
    assert.equal(r.exitCode, 1);
    assert.match(r.stderr, /the archive lacks manifest sha256:\w+ .*export again with --all-platforms/);
    await ok("cut", ["images", "import", cut]);
  });

  test("ctr export from containerd imports with berthctl, named and unpacked", async () => {
    const archive = join(dir, "ctr-export.tar");
    await ctrOk(containerd.address, ["images", "export", archive, pushed()], { namespace: ns });
    const r = await ok("from-containerd", ["images", "import", archive]);
    assert.match(r.stdout, new RegExp(`${pushed()} ${image.manifestDigest}`));
    assert.equal((await imageRows(berthd, "from-containerd")).get(pushed())?.DIGEST, image.manifestDigest);
    assert.ok((await snapshotKeys(berthd, "from-containerd")).includes(image.chainId));
    const check = parseTable(
      (await ctrOk(berthd.address, ["images", "check"], { namespace: "from-containerd" })).stdout,
    );
    assert.match(check.find((c) => c.REF === pushed())?.STATUS ?? "", /^complete/);
  });

  test("import naming: --base-name, --digests and --index-name as ctr has them", async () => {
    const archive = join(dir, "named.tar");
    await ok(ns, ["images", "export", "--skip-manifest-json", archive, image.ref]);
    assert.ok(!(await tarList(archive)).includes("manifest.json"));
    const base = `${registry.host}/berth`;
    await ok("naming", [
      "images",
      "import",
      "--base-name",
      base,
      "--digests",
      "--index-name",
      "kept/index:1",
      "--no-unpack",
      archive,
    ]);
    const rows = await imageRows(berthd, "naming");
    assert.equal(rows.get(image.ref)?.DIGEST, image.manifestDigest);
    assert.equal(rows.get(`${base}@${image.manifestDigest}`)?.DIGEST, image.manifestDigest);
    assert.equal(rows.get("kept/index:1")?.TYPE, "application/vnd.oci.image.index.v1+json");
    assert.ok(!(await snapshotKeys(berthd, "naming")).includes(image.chainId), "--no-unpack unpacked");
    const other = await berthctl("naming-other", [
      "images",
      "import",
      "--base-name",
      "elsewhere/app",
      archive,
    ]);
    assert.equal(other.exitCode, 1);
    assert.match(other.stderr, /no image in the archive is named under elsewhere\/app/);
  });

  test("a docker-save archive (manifest.json, config and layer.tar files) imports and unpacks", async () => {
    const work = join(dir, "docker-save");
    const layerId = "0123456789abcdef".repeat(4);
    await mkdir(join(work, layerId), { recursive: true });
    const blob = (digest: string) =>
      execa("tar", ["-xOf", join(dir, "berthctl-export.tar"), `blobs/sha256/${digest.slice(7)}`], {
        encoding: "buffer",
      }).then((r) => Buffer.from(r.stdout));
    const layer = image.layers[0];
    assert.ok(layer);
    await writeFile(join(work, layerId, "layer.tar"), gunzipSync(await blob(layer.digest)));
    await writeFile(join(work, `${image.configDigest.slice(7)}.json`), await blob(image.configDigest));
    const name = `${registry.host}/berth/docker-save:v1`;
    await writeFile(
      join(work, "manifest.json"),
      JSON.stringify([
        { Config: `${image.configDigest.slice(7)}.json`, RepoTags: [name], Layers: [`${layerId}/layer.tar`] },
      ]),
    );
    const archive = join(dir, "docker-save.tar");
    await execa("tar", [
      "-cf",
      archive,
      "-C",
      work,
      "manifest.json",
      `${image.configDigest.slice(7)}.json`,
      layerId,
    ]);
    // Through standard input, as `docker save | berthctl images import -`.
    const r = await ok("docker-save", ["images", "import", "-"], { inputFile: archive });
    assert.match(r.stdout, new RegExp(`${name} sha256:`));
    const row = (await imageRows(berthd, "docker-save")).get(name);
    assert.equal(row?.TYPE, "application/vnd.docker.distribution.manifest.v2+json");
    // The uncompressed layer's digest is its diff ID: the same chain as the gzip image.
    assert.ok((await snapshotKeys(berthd, "docker-save")).includes(image.chainId));
    // berthctl's import works against a real containerd too, gzip-compressed archive and all.
    await execa("gzip", ["-k", archive]);
    await ok("docker-save", ["images", "import", `${archive}.gz`], { address: containerd.address });
    assert.equal((await imageRows(containerd, "docker-save")).get(name)?.TYPE, row?.TYPE);
    assert.ok((await snapshotKeys(containerd, "docker-save")).includes(image.chainId));
  });

  test("export to standard output is a valid archive", async () => {
    const archive = join(dir, "stdout.tar");
    const r = await execa(
      process.execPath,
      [BERTHCTL, "--address", berthd.address, "--namespace", ns, "images", "export", "-", image.ref],
      {
        encoding: "buffer",
        stdin: "ignore",
        timeout: TIMEOUT,
      },
    );
    await writeFile(archive, r.stdout);
    assert.match(Buffer.from(r.stderr).toString(), /exported 3 blob\(s\)/);
    await ctrOk(containerd.address, ["images", "import", archive], { namespace: "from-stdout" });
    assert.equal((await imageRows(containerd, "from-stdout")).get(image.ref)?.DIGEST, image.manifestDigest);
  });

  test("broken archives and unknown images fail with what to do", async () => {
    const empty = join(dir, "layout-only");
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
    const archive = join(dir, "layout-only.tar");
    await execa("tar", ["-cf", archive, "-C", empty, "oci-layout"]);
    const bad = await berthctl("broken", ["images", "import", archive]);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /neither index\.json nor manifest\.json/);
    const notTar = join(dir, "not-a-tar");
    await writeFile(notTar, "hello\n".repeat(200));
    const garbage = await berthctl("broken", ["images", "import", notTar]);
    assert.equal(garbage.exitCode, 1);
    assert.match(garbage.stderr, /tar archive|neither index\.json/);
    const unknown = await berthctl(ns, ["images", "export", join(dir, "none.tar"), "no/such:image"]);
    assert.equal(unknown.exitCode, 1);
    assert.match(unknown.stderr, /not found: see berthctl images ls/);
    assert.equal(await readFile(join(dir, "none.tar")).catch(() => "absent"), "absent");
  });
});

describe("berthctl info", () => {
  test("shows version, plugins and namespaces, in text and JSON, for berthd and containerd", async () => {
    const text = await ok("default", ["info"]);
    assert.match(text.stdout, /^Version: +1\.6\.\d+/m);
    assert.match(text.stdout, /io\.containerd\.snapshotter\.v1 +overlayfs +linux\/\w+ +ok/);
    const json = JSON.parse((await ok("default", ["info", "-o", "json"])).stdout) as {
      version: string;
      uuid: string;
      plugins: Array<{ type: string; id: string; status: string }>;
      namespaces: Array<{ name: string; images: number }>;
    };
    assert.ok(
      json.plugins.some((p) => p.type === "io.containerd.grpc.v1" && p.id === "images" && p.status === "ok"),
    );
    assert.ok(
      (json.namespaces.find((n) => n.name === "berthctl-images")?.images ?? 0) >= 3,
      JSON.stringify(json.namespaces),
    );
    const real = JSON.parse(
      (await ok("default", ["info", "-o", "json"], { address: containerd.address })).stdout,
    ) as {
      version: string;
      plugins: unknown[];
    };
    assert.match(real.version, /^1\.6\./);
    assert.ok(real.plugins.length > 10);
  });
});
