// Pull with Berth's client library and with berthctl into a daemon speaking containerd
// 1.6's API, then check with Debian's `ctr` that the daemon holds exactly what
// containerd's own client would have left: the image record, blobs with containerd's gc
// and distribution labels, committed snapshots named by chain ID, no lease. A second pull
// fetches nothing; `ctr images rm --sync` leaves no content and no snapshots behind.
//
// The daemon under test is a parameter: the suite runs against Debian's containerd now,
// and against berthd: every daemon of daemons.ts.

import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  type Connection,
  type PullOptions,
  type PullProgress,
  chainIds,
  connect,
  images as imageStore,
  pull,
} from "@berth/client";
import { execa } from "execa";
import { daemonKinds } from "./daemons.js";
import { ctrOk, parseTable } from "./fixtures/ctr.js";
import {
  type IndexImage,
  type TestImage,
  buildIndexImage,
  buildLargeImage,
  buildTestImage,
} from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { tempDir } from "./fixtures/tmp.js";

/** A daemon serving containerd's gRPC API on `address`. */
export interface DaemonUnderTest {
  address: string;
  stop(): Promise<void>;
}

export type StartDaemon = () => Promise<DaemonUnderTest>;

const BERTHCTL = fileURLToPath(new URL("../../packages/cli/dist/main.js", import.meta.url));
const NAMESPACE = "pull-e2e";
const TEST_TIMEOUT = 180_000;

/** The final status of every progress row, by ref (blobs) or chain ID (unpack). */
function finalStatuses(events: readonly PullProgress[]): {
  blobs: Map<string, string>;
  unpacked: Map<string, string>;
} {
  const blobs = new Map<string, string>();
  const unpacked = new Map<string, string>();
  for (const e of events) {
    if (e.type === "unpack") unpacked.set(e.chainId, e.status);
    else if (e.status !== "resolving" && e.status !== "resolved") blobs.set(e.ref, e.status);
  }
  return { blobs, unpacked };
}

/** A fetch that records "METHOD /path" (and " Range: …" when asked for) of each registry request. */
function recordingFetch(): { fetch: typeof fetch; requests: string[] } {
  const requests: string[] = [];
  const recording: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const range = new Headers(init?.headers).get("range");
    requests.push(
      `${init?.method ?? "GET"} ${new URL(url).pathname}${range !== null ? ` Range: ${range}` : ""}`,
    );
    return fetch(input, init);
  };
  return { fetch: recording, requests };
}

/** ctr's LABELS cell ("k=v,k=v", values may hold commas) as a map. */
function parseLabels(cell: string | undefined): Map<string, string> {
  const labels = new Map<string, string>();
  if (cell === undefined || cell === "" || cell === "-") return labels;
  // A comma starts a new pair only where a key (text up to '=') follows.
  for (const pair of cell.split(/,(?=[^,=]+=)/)) {
    const eq = pair.indexOf("=");
    labels.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return labels;
}

export function pullSuite(label: string, startDaemon: StartDaemon): void {
  describe(`pull into ${label}`, { timeout: 15 * TEST_TIMEOUT }, () => {
    let registry: Registry;
    let daemon: DaemonUnderTest;
    let conn: Connection;
    let image: TestImage;
    let index: IndexImage;
    let docker: TestImage;
    let chain: string[];

    const ctr = async (...args: string[]) =>
      (await ctrOk(daemon.address, args, { namespace: NAMESPACE })).stdout;
    const ctrTable = async (...args: string[]) => parseTable(await ctr(...args));
    const contentLabels = async () =>
      new Map((await ctrTable("content", "ls")).map((r) => [r.DIGEST ?? "", parseLabels(r.LABELS)]));
    const berthctl = (...args: string[]) =>
      execa(process.execPath, [BERTHCTL, "--address", daemon.address, "--namespace", NAMESPACE, ...args], {
        reject: false,
        timeout: TEST_TIMEOUT,
        stripFinalNewline: false,
      });

    before(async () => {
      registry = await startRegistry();
      image = await buildTestImage(registry.host);
      index = await buildIndexImage(registry.host);
      chain = chainIds(image.layers.map((l) => l.diffId));
      daemon = await startDaemon();
      conn = connect({ address: daemon.address, namespace: NAMESPACE });
    });

    after(async () => {
      conn?.close();
      await daemon?.stop();
      await registry?.stop();
    });

    test(
      "the client pulls the multi-layer image: manifest, config and every layer once",
      { timeout: TEST_TIMEOUT },
      async () => {
        const { fetch, requests } = recordingFetch();
        const events: PullProgress[] = [];
        const pulled = await pull(conn, image.ref, {
          plainHttp: true,
          platform: "linux/amd64",
          fetch,
          onProgress: (e) => events.push(e),
        });
        assert.equal(pulled.name, image.ref);
        assert.equal(pulled.target?.digest, image.manifestDigest);
        assert.equal(pulled.target?.mediaType, image.mediaType);

        const blobGets = requests.filter((r) => r.startsWith("GET ") && r.includes("/blobs/"));
        assert.equal(blobGets.length, 1 + image.layers.length, requests.join("\n"));
        assert.deepEqual(
          requests.filter((r) => r.includes("/manifests/")),
          [
            `HEAD /v2/${image.name}/manifests/${image.tag}`,
            `GET /v2/${image.name}/manifests/${image.manifestDigest}`,
          ],
        );

        const { blobs, unpacked } = finalStatuses(events);
        assert.deepEqual(
          [...blobs],
          [
            [`manifest-${image.manifestDigest}`, "done"],
            [`config-${image.configDigest}`, "done"],
            ...image.layers.map((l) => [`layer-${l.digest}`, "done"]),
          ],
        );
        assert.deepEqual(
          [...unpacked],
          chain.map((c) => [c, "done"]),
        );

        // The pull's lease is gone: only labels keep the content and snapshots alive now.
        assert.deepEqual(await ctrTable("leases", "ls"), []);
      },
    );

    test("ctr images ls shows the image", async () => {
      const row = (await ctrTable("images", "ls")).find((r) => r.REF === image.ref);
      assert.ok(row, `ctr images ls lacks ${image.ref}`);
      assert.equal(row.TYPE, image.mediaType);
      assert.equal(row.DIGEST, image.manifestDigest);
      assert.equal(row.PLATFORMS, "linux/amd64");
    });

    test("ctr content ls shows every blob with containerd's gc and source labels", async () => {
      const labels = await contentLabels();
      const source = `containerd.io/distribution.source.${registry.host.split(":")[0]}`;

      const manifest = labels.get(image.manifestDigest);
      assert.ok(manifest, "manifest blob missing");
      assert.equal(manifest.get("containerd.io/gc.ref.content.config"), image.configDigest);
      image.layers.forEach((l, i) =>
        assert.equal(manifest.get(`containerd.io/gc.ref.content.l.${i}`), l.digest),
      );
      assert.equal(manifest.get(source), image.name);

      const config = labels.get(image.configDigest);
      assert.ok(config, "config blob missing");
      assert.equal(config.get("containerd.io/gc.ref.snapshot.overlayfs"), image.chainId);
      assert.equal(config.get(source), image.name);

      for (const layer of image.layers) {
        const l = labels.get(layer.digest);
        assert.ok(l, `layer ${layer.digest} missing`);
        assert.equal(l.get("containerd.io/uncompressed"), layer.diffId);
        assert.equal(l.get(source), image.name);
      }
      assert.equal(labels.size, 2 + image.layers.length);
    });

    test("ctr snapshots ls shows one committed snapshot per layer, named by chain ID", async () => {
      assert.equal(chain.at(-1), image.chainId);
      const rows = await ctrTable("snapshots", "ls");
      assert.deepEqual(
        rows.map((r) => [r.KEY, r.PARENT, r.KIND]).sort(),
        chain.map((c, i) => [c, chain[i - 1] ?? "", "Committed"]).sort(),
      );
    });

    test(
      "a second pull fetches nothing and reports everything as present",
      { timeout: TEST_TIMEOUT },
      async () => {
        const { fetch, requests } = recordingFetch();
        const events: PullProgress[] = [];
        const options: PullOptions = {
          plainHttp: true,
          platform: "linux/amd64",
          fetch,
          onProgress: (e) => events.push(e),
        };
        const again = await pull(conn, image.ref, options);
        assert.equal(again.target?.digest, image.manifestDigest);
        // Resolving the tag is the only request; it carries no body.
        assert.deepEqual(requests, [`HEAD /v2/${image.name}/manifests/${image.tag}`]);
        const { blobs, unpacked } = finalStatuses(events);
        assert.equal(blobs.size, 2 + image.layers.length);
        assert.deepEqual(new Set(blobs.values()), new Set(["exists"]));
        assert.deepEqual(
          [...unpacked],
          chain.map((c) => [c, "exists"]),
        );
      },
    );

    test(
      "an index pull fetches only the manifest of the chosen platform",
      { timeout: TEST_TIMEOUT },
      async () => {
        const amd64 = index.manifests.find((m) => m.platform.architecture === "amd64");
        const arm64 = index.manifests.find((m) => m.platform.architecture === "arm64");
        assert.ok(amd64 && arm64);
        const pulled = await pull(conn, index.ref, { plainHttp: true, platform: "linux/amd64" });
        assert.equal(pulled.target?.digest, index.indexDigest);

        const labels = await contentLabels();
        const top = labels.get(index.indexDigest);
        assert.ok(top, "index blob missing");
        // The index references every manifest, also the one not fetched (as containerd does).
        assert.deepEqual(
          new Set([top.get("containerd.io/gc.ref.content.m.0"), top.get("containerd.io/gc.ref.content.m.1")]),
          new Set([amd64.manifestDigest, arm64.manifestDigest]),
        );
        assert.ok(labels.has(amd64.manifestDigest));
        assert.ok(labels.has(amd64.configDigest));
        assert.ok(!labels.has(arm64.manifestDigest), "the arm64 manifest was fetched");
        assert.ok(!labels.has(arm64.configDigest), "the arm64 config was fetched");

        const row = (await ctrTable("images", "ls")).find((r) => r.REF === index.ref);
        assert.equal(row?.TYPE, index.mediaType);
        assert.equal(row?.PLATFORMS, "linux/amd64,linux/arm64/v8");
        const listed = await imageStore.list(conn);
        assert.deepEqual(
          listed.map((i) => i.name),
          [index.ref, image.ref].sort(),
        );
      },
    );

    test("a Docker schema 2 image pulls the same way", { timeout: TEST_TIMEOUT }, async () => {
      docker = await buildTestImage(registry.host, "berth/docker", "v2s2", { format: "docker" });
      const events: PullProgress[] = [];
      const pulled = await pull(conn, docker.ref, {
        plainHttp: true,
        platform: "linux/amd64",
        onProgress: (e) => events.push(e),
      });
      assert.equal(pulled.target?.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
      assert.equal(pulled.target?.digest, docker.manifestDigest);
      const { blobs, unpacked } = finalStatuses(events);
      assert.equal(blobs.get(`manifest-${docker.manifestDigest}`), "done");
      // The config keeps its bytes in the conversion, and the layers are the OCI image's:
      // all already in the store, and already unpacked.
      assert.equal(
        blobs.get(`config-${docker.configDigest}`),
        docker.configDigest === image.configDigest ? "exists" : "done",
      );
      for (const l of docker.layers) assert.equal(blobs.get(`layer-${l.digest}`), "exists");
      assert.deepEqual(
        [...unpacked],
        chain.map((c) => [c, "exists"]),
      );
      const labels = await contentLabels();
      assert.equal(
        labels.get(docker.configDigest)?.get("containerd.io/gc.ref.snapshot.overlayfs"),
        docker.chainId,
      );
      const source = `containerd.io/distribution.source.${registry.host.split(":")[0]}`;
      assert.equal(
        labels.get(docker.layers[0]?.digest ?? "")?.get(source),
        "berth/docker,berth/index,berth/test",
      );
    });

    test("ctr images rm --sync leaves no content and no snapshots", { timeout: TEST_TIMEOUT }, async () => {
      await ctr("images", "rm", "--sync", image.ref, index.ref, docker.ref);
      assert.deepEqual(await ctrTable("images", "ls"), []);
      assert.deepEqual(await ctrTable("content", "ls"), []);
      assert.deepEqual(await ctrTable("snapshots", "ls"), []);
    });

    test(
      "berthctl images pull --plain-http, images ls, images rm --sync",
      { timeout: TEST_TIMEOUT },
      async () => {
        const pulled = await berthctl("images", "pull", "--plain-http", image.ref);
        assert.equal(pulled.exitCode, 0, pulled.stderr);
        const lines = pulled.stdout.trimEnd().split("\n");
        assert.match(lines.at(-1) ?? "", new RegExp(`^elapsed: .* ${image.ref} ${image.manifestDigest}$`));
        assert.ok(
          lines.includes(`layer-${image.layers[0]?.digest}: done        1.0 MiB/1.0 MiB`),
          pulled.stdout,
        );

        const listed = await berthctl("images", "ls");
        assert.equal(listed.exitCode, 0, listed.stderr);
        const row = parseTable(listed.stdout).find((r) => r.REF === image.ref);
        assert.equal(row?.DIGEST, image.manifestDigest);
        assert.equal(row?.TYPE, image.mediaType);
        assert.equal(row?.PLATFORMS, "linux/amd64");
        assert.equal(row?.SIZE, "1.0 MiB");
        assert.equal((await berthctl("images", "ls", "-q")).stdout, `${image.ref}\n`);

        // What berthctl pulled, ctr sees the same way.
        assert.equal(
          (await ctrTable("images", "ls")).find((r) => r.REF === image.ref)?.DIGEST,
          image.manifestDigest,
        );
        assert.equal((await ctrTable("snapshots", "ls")).length, chain.length);

        const removed = await berthctl("images", "rm", "--sync", image.ref);
        assert.equal(removed.exitCode, 0, removed.stderr);
        assert.equal(removed.stdout, `${image.ref}\n`);
        assert.deepEqual(await ctrTable("images", "ls"), []);
        assert.deepEqual(await ctrTable("content", "ls"), []);
        assert.deepEqual(await ctrTable("snapshots", "ls"), []);
      },
    );

    test(
      "berthctl pulls through a mirror, never asking the registry itself",
      { timeout: TEST_TIMEOUT },
      async () => {
        const dir = await tempDir("pull-hosts");
        const hostsFile = join(dir, "hosts.yaml");
        await writeFile(hostsFile, `mirrors:\n  registry.invalid:\n    - http://${registry.host}\n`);
        const ref = `registry.invalid/${image.name}:${image.tag}`;
        const pulled = await berthctl("images", "pull", "--hosts-config", hostsFile, "--no-unpack", ref);
        assert.equal(pulled.exitCode, 0, pulled.stderr);
        assert.equal(
          (await ctrTable("images", "ls")).find((r) => r.REF === ref)?.DIGEST,
          image.manifestDigest,
        );
        assert.deepEqual(await ctrTable("snapshots", "ls"), []);
        const labels = await contentLabels();
        assert.equal(
          labels.get(image.manifestDigest)?.get("containerd.io/distribution.source.registry.invalid"),
          image.name,
        );
        const removed = await berthctl("images", "rm", "--sync", ref);
        assert.equal(removed.exitCode, 0, removed.stderr);
        assert.deepEqual(await ctrTable("content", "ls"), []);
      },
    );

    test(
      "berthctl says what to do when the registry speaks plain HTTP",
      { timeout: TEST_TIMEOUT },
      async () => {
        const r = await berthctl("images", "pull", image.ref);
        assert.equal(r.exitCode, 1);
        assert.equal(
          r.stderr,
          `berthctl: registry ${registry.host} answered with HTTP: use --plain-http or list it under plainHttp in the hosts config\n`,
        );
        assert.deepEqual(await ctrTable("images", "ls"), []);
      },
    );

    test("an interrupted pull resumes its download where it stopped", { timeout: TEST_TIMEOUT }, async () => {
      const large = await buildLargeImage(registry.host, "berth/large", "resume", 24, 2);
      const big = large.layers.reduce((a, b) => (b.size > a.size ? b : a));
      const abort = new AbortController();
      let stoppedAt = 0;
      await assert.rejects(
        pull(conn, large.ref, {
          plainHttp: true,
          platform: "linux/amd64",
          concurrency: 1,
          signal: abort.signal,
          onProgress: (e) => {
            if (e.type === "blob" && e.digest === big.digest && e.offset > 8 << 20 && stoppedAt === 0) {
              stoppedAt = e.offset;
              abort.abort(new Error("interrupted by the test"));
            }
          },
        }),
      );
      assert.ok(stoppedAt > 0, "the big layer never started downloading");
      const active = await ctrTable("content", "active");
      assert.deepEqual(
        active.map((r) => r.REF),
        [`layer-${big.digest}`],
      );

      const { fetch, requests } = recordingFetch();
      const pulled = await pull(conn, large.ref, { plainHttp: true, platform: "linux/amd64", fetch });
      assert.equal(pulled.target?.digest, large.manifestDigest);
      const resumed = requests.find((r) => r.includes(`/blobs/${big.digest}`));
      const from = Number(/Range: bytes=(\d+)-$/.exec(resumed ?? "")?.[1] ?? 0);
      assert.ok(from >= stoppedAt, `resumed with ${resumed}, stopped at ${stoppedAt}`);
      assert.deepEqual(await ctrTable("content", "active"), []);

      // The interrupted pull kept its lease (it expires on its own); drop it to clean up.
      for (const lease of await ctrTable("leases", "ls")) await ctr("leases", "rm", lease.ID ?? "");
      await ctr("images", "rm", "--sync", large.ref);
      assert.deepEqual(await ctrTable("content", "ls"), []);
      assert.deepEqual(await ctrTable("snapshots", "ls"), []);
    });
  });
}

for (const { kind, start } of daemonKinds) pullSuite(kind, start);
