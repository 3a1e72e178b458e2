// What containerd's Go client (ctr, nerdctl, Docker) reads from a daemon beyond the plain
// calls, checked on berthd and on Debian's containerd 1.6 with the same steps: the digest
// a content writer reports as it goes, an ingest ref free for a resume the moment its
// write stream ends, a resumed `ctr content ingest`, and the runc options (BinaryName,
// ShimCgroup) a client gives a task, through Berth's shim and Debian's runc shim.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Options } from "@berth/api/containerd/runtime/v2/runc/options/oci";
import { WriteAction } from "@berth/api/containerd/services/content/v1/content";
import { Status } from "@berth/api/containerd/types/task/task";
import { type DaemonUnderTest, daemonKinds, shimBinDir } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { buildSimpleImage } from "./fixtures/images.js";
import { argvOfSync } from "./fixtures/proc.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { sleep, tempDir, waitFor } from "./fixtures/tmp.js";
import { type Clients, clients, sha256 } from "./grpc.js";

/** The pid of the shim serving container `id` of the daemon at `address` (both shims take these flags). */
function shimPid(address: string, id: string): number | undefined {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = argvOfSync(entry);
    } catch {
      continue;
    }
    const flag = (name: string) => argv[argv.indexOf(name) + 1];
    if (argv.includes("-id") && flag("-id") === id && flag("-address") === address) return Number(entry);
  }
  return undefined;
}

let registry: Registry;
let image = "";
before(async () => {
  // containerd finds Berth's shim on its PATH, as berthd does.
  process.env.PATH = `${await shimBinDir()}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`;
  registry = await startRegistry();
  image = (await buildSimpleImage(registry.host, "berth/goclient", "v1")).ref;
});
after(async () => {
  await registry?.stop();
});

for (const { kind, start } of daemonKinds) {
  describe(`containerd Go client expectations against ${kind}`, () => {
    let daemon: DaemonUnderTest;
    let c: Clients;
    const ns = `goclient-${randomBytes(3).toString("hex")}`;

    before(async () => {
      daemon = await start();
      c = clients(daemon.address, ns);
      await ctrOk(daemon.address, ["images", "pull", "--plain-http", image], { namespace: ns });
    });
    after(async () => {
      c?.close();
      await daemon?.stop();
    });

    test("a Write stream's answers carry the digest of what the ingest holds so far", async () => {
      const data = randomBytes(5000);
      const ref = `digest-${randomBytes(4).toString("hex")}`;
      async function* requests() {
        yield { action: WriteAction.STAT, ref, total: data.length, expected: sha256(data) };
        yield { action: WriteAction.WRITE, ref, offset: 0, data: data.subarray(0, 2000) };
        yield { action: WriteAction.STAT, ref };
        yield {
          action: WriteAction.COMMIT,
          ref,
          offset: 2000,
          data: data.subarray(2000),
          total: data.length,
        };
      }
      const answers = [];
      for await (const resp of c.content.write(requests())) answers.push(resp);
      // containerd repeats its last answer once the stream ends; the first four are the replies.
      assert.deepEqual(
        answers.slice(0, 4).map((a) => [a.offset, a.digest]),
        [
          [0, sha256(Buffer.alloc(0))],
          [2000, sha256(data.subarray(0, 2000))],
          [2000, sha256(data.subarray(0, 2000))],
          [5000, sha256(data)],
        ],
      );
    });

    test("a writer for a blob another namespace has holds it already; its commit records it with the commit's labels", async () => {
      const data = randomBytes(4000);
      const digest = sha256(data);
      const dir = await tempDir("shared-");
      await writeFile(join(dir, "blob"), data);
      const otherNs = `${ns}-other`;
      // `ctr content ingest` takes no lease: the blob is garbage until labelled a root, and a
      // collection (one runs soon after the daemon starts) may take it first. Ingest again then.
      for (let attempt = 1; ; attempt++) {
        await ctrOk(daemon.address, ["content", "ingest", "--expected-digest", digest, `first-${digest}`], {
          namespace: otherNs,
          inputFile: join(dir, "blob"),
        });
        const rooted = await ctr(daemon.address, ["content", "label", digest, "containerd.io/gc.root=1"], {
          namespace: otherNs,
        });
        if (rooted.exitCode === 0) break;
        if (attempt >= 3 || !/not found/.test(rooted.stderr))
          assert.fail(`ctr content label: ${rooted.stderr}`);
      }
      const ref = `shared-${randomBytes(4).toString("hex")}`;
      async function* requests() {
        yield { action: WriteAction.STAT, ref, total: data.length, expected: digest };
        yield {
          action: WriteAction.COMMIT,
          ref,
          offset: data.length,
          total: data.length,
          expected: digest,
          // A root for garbage collection: the test's own lease-less content must outlive it.
          labels: { "berth.test/shared": "yes", "containerd.io/gc.root": "1" },
        };
      }
      const answers = [];
      for await (const resp of c.content.write(requests())) answers.push(resp);
      assert.deepEqual(
        answers.slice(0, 2).map((a) => [a.offset, a.total, a.digest]),
        [
          [data.length, data.length, digest],
          [data.length, data.length, digest],
        ],
      );
      const info = (await c.content.info({ digest })).info;
      assert.equal(info?.size, data.length);
      assert.deepEqual(info?.labels, { "berth.test/shared": "yes", "containerd.io/gc.root": "1" });
    });

    test("an ingest ref can be resumed right after its write stream ends, 30 times in a row", async () => {
      const ref = `resume-${randomBytes(4).toString("hex")}`;
      let offset = 0;
      for (let i = 0; i < 30; i++) {
        // As the Go client's writer does: ask, write, read the answers, CloseSend, and open
        // the next writer without waiting for the server to end the stream.
        let closeSend = () => {};
        const closed = new Promise<void>((resolve) => {
          closeSend = resolve;
        });
        async function* requests() {
          yield { action: WriteAction.STAT, ref };
          yield { action: WriteAction.WRITE, ref, offset, data: Buffer.alloc(10, i) };
          await closed;
        }
        const answers = c.content.write(requests())[Symbol.asyncIterator]();
        try {
          assert.equal((await answers.next()).value?.offset, offset, `writer ${i} resumes at ${offset}`);
          offset = (await answers.next()).value?.offset ?? -1;
        } finally {
          closeSend();
        }
        void answers.next().catch(() => undefined);
      }
      assert.equal(offset, 300);
      assert.equal((await c.content.status({ ref })).status?.offset, 300);
      await c.content.abort({ ref });
    });

    test("ctr content ingest killed half-way is listed by ctr content active and resumed by the next ingest", async () => {
      const dir = await tempDir("ingest-");
      const data = randomBytes(3 << 20);
      const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
      const file = join(dir, "blob");
      await writeFile(file, data);
      const ref = `ctr-ingest-${randomBytes(4).toString("hex")}`;
      const args = [
        "content",
        "ingest",
        "--expected-size",
        String(data.length),
        "--expected-digest",
        digest,
        ref,
      ];
      const first = spawn("/usr/bin/ctr", ["--address", daemon.address, "--namespace", ns, ...args], {
        stdio: ["pipe", "ignore", "ignore"],
      });
      const exited = new Promise((resolve) => first.on("exit", resolve));
      first.stdin.on("error", () => undefined);
      first.stdin.write(data.subarray(0, 1 << 20));
      try {
        await waitFor(
          async () => (await c.content.status({ ref }).catch(() => undefined))?.status?.offset === 1 << 20,
          { timeoutMs: 15_000, what: `ingest ${ref} at 1 MiB` },
        );
      } finally {
        first.kill("SIGKILL");
        await exited;
      }
      const active = parseTable(
        (await ctrOk(daemon.address, ["content", "active"], { namespace: ns })).stdout,
      );
      assert.ok(
        active.some((a) => a.REF === ref),
        JSON.stringify(active),
      );
      const resumed = await ctr(daemon.address, args, { namespace: ns, inputFile: file });
      assert.equal(resumed.exitCode, 0, resumed.stderr);
      const blobs = parseTable((await ctrOk(daemon.address, ["content", "ls"], { namespace: ns })).stdout);
      assert.ok(
        blobs.some((b) => b.DIGEST === digest),
        JSON.stringify(blobs),
      );
      const left = parseTable((await ctrOk(daemon.address, ["content", "active"], { namespace: ns })).stdout);
      assert.equal(
        left.some((a) => a.REF === ref),
        false,
      );
    });

    test("times of snapshots, containers and content keep nanoseconds, and read back the same", async () => {
      const fraction = (t: string) => /\.(\d+)Z$/.exec(t)?.[1] ?? "";
      const snapshots = parseTable(
        (await ctrOk(daemon.address, ["snapshots", "ls"], { namespace: ns })).stdout,
      );
      const key = snapshots[0]?.KEY;
      assert.ok(key, JSON.stringify(snapshots));
      const info = async () =>
        JSON.parse((await ctrOk(daemon.address, ["snapshots", "info", key], { namespace: ns })).stdout) as {
          Created: string;
          Updated: string;
        };
      const first = await info();
      assert.ok(fraction(first.Created).length > 3, `snapshot created ${first.Created}`);
      assert.deepEqual(await info(), first);
      await ctrOk(daemon.address, ["snapshots", "label", key, "berth.test/touched=yes"], { namespace: ns });
      const labelled = await info();
      assert.equal(labelled.Created, first.Created, "a label leaves the creation time as it was");
      assert.ok(fraction(labelled.Updated).length > 3, `snapshot updated ${labelled.Updated}`);
      assert.notEqual(labelled.Updated, first.Updated);

      const id = `times-${randomBytes(3).toString("hex")}`;
      await ctrOk(daemon.address, ["containers", "create", image, id, "true"], { namespace: ns });
      const container = async () =>
        JSON.parse((await ctrOk(daemon.address, ["containers", "info", id], { namespace: ns })).stdout) as {
          CreatedAt: string;
          UpdatedAt: string;
        };
      const c1 = await container();
      assert.ok(fraction(c1.CreatedAt).length > 3, `container created ${c1.CreatedAt}`);
      assert.deepEqual(await container(), c1);
      await ctrOk(daemon.address, ["containers", "rm", id], { namespace: ns });

      // Content times through the API: several blobs, at least one off a whole millisecond.
      const blobs = [];
      for await (const page of c.content.list({})) blobs.push(...page.info);
      assert.ok(blobs.length > 0);
      const subMs = blobs.map(
        (b) => (b.createdAt as Date & { subMillisecondNanos?: number }).subMillisecondNanos,
      );
      assert.ok(
        subMs.some((n) => (n ?? 0) > 0),
        `content created with nanoseconds: ${JSON.stringify(subMs)}`,
      );
    });

    for (const runtime of ["io.containerd.runc.v2", "io.containerd.berth.v2"]) {
      test(`${runtime}: a task's runc options BinaryName and ShimCgroup are applied`, async () => {
        const short = runtime.split(".")[2] ?? runtime;
        const id = `opts-${short}-${randomBytes(3).toString("hex")}`;
        const dir = await tempDir("runc-wrapper-");
        const log = join(dir, "calls.log");
        const wrapper = join(dir, "logging-runc");
        await writeFile(wrapper, `#!/bin/sh\necho "$*" >>${log}\nexec runc "$@"\n`, { mode: 0o755 });
        // A cgroup of its own for the shim, in the unified hierarchy or in v1's.
        const cgroup = `/berth-e2e-shim-${randomBytes(3).toString("hex")}`;
        const hierarchies = readFileSync("/proc/self/cgroup", "utf8")
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => (l.split(":")[1] ?? "").replace(/^name=/, ""));
        const cgroupDirs = hierarchies.every((h) => h === "")
          ? [join("/sys/fs/cgroup", cgroup)]
          : // cpuset is left out: a new cpuset cgroup takes no process before it is given cpus and mems.
            hierarchies
              .filter((h) => h !== "" && h !== "cpuset")
              .map((h) => join("/sys/fs/cgroup", h, cgroup));
        for (const d of cgroupDirs) await mkdir(d, { recursive: true });
        try {
          await ctrOk(
            daemon.address,
            ["containers", "create", "--runtime", runtime, image, id, "sleep", "60"],
            {
              namespace: ns,
            },
          );
          // As the Go client's NewTask does: the snapshot's mounts, then Create with the options.
          const snapshotter = (await c.containers.get({ id })).container?.snapshotter ?? "overlayfs";
          const { mounts } = await c.snapshots.mounts({ snapshotter, key: id });
          const options = Options.encode(
            Options.fromPartial({ binaryName: wrapper, shimCgroup: cgroup }),
          ).finish();
          await c.tasks.create({
            containerId: id,
            rootfs: mounts,
            options: { typeUrl: "containerd.runc.v1.Options", value: Buffer.from(options) },
          });
          await c.tasks.start({ containerId: id });
          const calls = await readFile(log, "utf8");
          assert.match(calls, /(^| )create /m, `the wrapper ran runc create:\n${calls}`);
          assert.match(calls, /(^| )start /m, `the wrapper ran runc start:\n${calls}`);
          const pid = shimPid(daemon.address, id);
          assert.ok(pid, `a shim serving ${id}`);
          const shimCgroups = readFileSync(`/proc/${pid}/cgroup`, "utf8");
          assert.ok(
            shimCgroups.split("\n").some((l) => l.endsWith(`:${cgroup}`)),
            `shim ${pid} in ${cgroup}:\n${shimCgroups}`,
          );
          await c.tasks.kill({ containerId: id, signal: 9 });
          await waitFor(
            async () => (await c.tasks.get({ containerId: id })).process?.status === Status.STOPPED,
            {
              timeoutMs: 15_000,
              what: `${id} stopped`,
            },
          );
          assert.match(await readFile(log, "utf8"), /(^| )kill /m);
        } finally {
          await c.tasks.delete({ containerId: id }).catch(() => undefined);
          await ctr(daemon.address, ["containers", "rm", id], { namespace: ns });
          // The shim leaves its cgroup empty once it exits.
          for (const d of cgroupDirs) {
            await waitFor(
              async () => {
                await rmdir(d).catch(() => undefined);
                return !readdirSync(join(d, "..")).includes(cgroup.slice(1));
              },
              { timeoutMs: 15_000, what: `${d} removed` },
            ).catch(() => sleep(0));
          }
        }
      });
    }
  });
}
