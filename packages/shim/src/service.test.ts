// The Task service over ttrpc with real runc, without a daemon: a busybox bundle, a fake
// events service, and the calls containerd makes, including the error codes it relies on.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Options } from "@berth/api/containerd/runtime/v2/runc/options/oci";
import { TaskDefinition } from "@berth/api/containerd/runtime/v2/task/shim";
import { type Envelope, EventsDefinition } from "@berth/api/containerd/services/ttrpc/events/v1/events";
import { Status } from "@berth/api/containerd/types/task/task";
import { Code, TtrpcClient, TtrpcServer, createTtrpcClient, namespaceMetadata } from "@berth/ttrpc";
import { EventPublisher } from "./events.js";
import { Reaper } from "./reaper.js";
import { REOPEN_LOG_ANNOTATION, TaskService } from "./service.js";
import { initLibc, setChildSubreaper } from "./sys.js";

const haveRunc = (() => {
  try {
    execFileSync("runc", ["--version"], { stdio: "ignore" });
    return process.getuid?.() === 0 && existsSync("/bin/busybox");
  } catch {
    return false;
  }
})();

async function rejectsWith(p: Promise<unknown>, code: number, pattern?: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: number }) => {
    assert.equal(err.code, code, `${err.message}`);
    if (pattern !== undefined) assert.match(err.message, pattern);
    return true;
  });
}

describe(
  "Task service with runc",
  { skip: !haveRunc && "needs root, runc and /bin/busybox", timeout: 120_000 },
  () => {
    let dir = "";
    const events: Envelope[] = [];
    let eventServer: TtrpcServer;
    let shimServer: TtrpcServer;
    let connection: TtrpcClient;
    let reaper: Reaper;
    let publisher: EventPublisher;
    let shutdowns = 0;
    let task: ReturnType<typeof createTtrpcClient<typeof TaskDefinition>>;
    let bundle = "";
    let options: { typeUrl: string; value: Buffer };

    before(async () => {
      await initLibc();
      setChildSubreaper();
      dir = mkdtempSync("/var/tmp/berth-shim-svc-");
      // A read-only busybox tree, bind-mounted as the rootfs the way a snapshot would be.
      const image = join(dir, "image");
      for (const d of ["bin", "proc", "dev", "sys", "tmp", "etc"])
        mkdirSync(join(image, d), { recursive: true });
      copyFileSync("/bin/busybox", join(image, "bin/busybox"));
      for (const a of ["sh", "sleep", "echo", "cat", "true"]) symlinkSync("busybox", join(image, "bin", a));
      bundle = join(dir, "bundle");
      mkdirSync(bundle);
      execFileSync("runc", ["spec"], { cwd: bundle });
      const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
      spec.process.terminal = false;
      spec.process.args = ["sh", "-c", "echo started; exec sleep 300"];
      spec.process.oomScoreAdj = -1000;
      spec.root = { path: "rootfs", readonly: true };
      spec.linux.resources = { devices: [{ allow: false, access: "rwm" }] };
      writeFileSync(join(bundle, "config.json"), JSON.stringify(spec));
      options = {
        typeUrl: "containerd.runc.v1.Options",
        value: Buffer.from(Options.encode(Options.fromPartial({ root: join(dir, "runc") })).finish()),
      };

      eventServer = new TtrpcServer().register(EventsDefinition, {
        async forward(request) {
          if (request.envelope !== undefined) events.push(request.envelope);
          return {};
        },
      });
      await eventServer.listen(join(dir, "events.sock"));
      publisher = new EventPublisher({ address: join(dir, "events.sock"), namespace: "svc-test" });
      reaper = new Reaper();
      reaper.start();
      const service = new TaskService({
        namespace: "svc-test",
        publisher,
        reaper,
        onShutdown: () => {
          shutdowns++;
        },
      });
      shimServer = new TtrpcServer().register(TaskDefinition, service.implementation);
      await shimServer.listen(join(dir, "shim.sock"));
      connection = await TtrpcClient.connect(join(dir, "shim.sock"));
      task = createTtrpcClient(TaskDefinition, connection, {
        defaultMetadata: namespaceMetadata("svc-test"),
      });
    });

    after(async () => {
      connection?.close();
      await shimServer?.close();
      await eventServer?.close();
      publisher?.close();
      reaper?.stop();
      try {
        execFileSync("runc", ["--root", join(dir, "runc", "svc-test"), "delete", "--force", "c1"], {
          stdio: "ignore",
        });
      } catch {
        // already gone
      }
      for (const b of [bundle, join(dir, "bundle-log")]) {
        try {
          execFileSync("runc", ["--root", join(dir, "runc", "svc-test"), "delete", "--force", "c2"], {
            stdio: "ignore",
          });
        } catch {
          // already gone
        }
        try {
          execFileSync("umount", ["-l", join(b, "rootfs")], { stdio: "ignore" });
        } catch {
          // not mounted
        }
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it("runs a container through its whole life with containerd's calls and events", async () => {
      const image = join(dir, "image");
      const log = join(dir, "out.log");
      const created = await task.create({
        id: "c1",
        bundle,
        rootfs: [{ type: "bind", source: image, target: "", options: ["rbind", "ro"] }],
        stdout: `file://${log}`,
        stderr: `file://${log}`,
        options,
      });
      assert.ok(created.pid > 0);
      // The spec asked for -1000; without CAP_SYS_RESOURCE it is clamped to ours.
      const own = Number(readFileSync("/proc/self/oom_score_adj", "utf8"));
      assert.equal(JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")).process.oomScoreAdj, own);
      assert.equal((await task.state({ id: "c1" })).status, Status.CREATED);
      await rejectsWith(task.create({ id: "c1", bundle }), Code.ALREADY_EXISTS);

      const started = await task.start({ id: "c1" });
      assert.equal(started.pid, created.pid);
      await rejectsWith(task.start({ id: "c1" }), Code.FAILED_PRECONDITION, /cannot start a running process/);
      assert.equal((await task.state({ id: "c1" })).status, Status.RUNNING);

      const spec = (args: string[]) => ({
        typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/Process",
        value: Buffer.from(JSON.stringify({ args, cwd: "/", env: ["PATH=/bin"], user: { uid: 0, gid: 0 } })),
      });
      await task.exec({ id: "c1", execId: "e1", spec: spec(["sh", "-c", "exit 3"]) });
      await rejectsWith(task.exec({ id: "c1", execId: "e1", spec: spec(["true"]) }), Code.ALREADY_EXISTS);
      const waiting = task.wait({ id: "c1", execId: "e1" });
      const e1 = await task.start({ id: "c1", execId: "e1" });
      assert.ok(e1.pid > 0);
      assert.equal((await waiting).exitStatus, 3);
      await rejectsWith(task.kill({ id: "c1", execId: "e1", signal: 9 }), Code.NOT_FOUND);
      await task.delete({ id: "c1", execId: "e1" });
      await rejectsWith(task.state({ id: "c1", execId: "e1" }), Code.NOT_FOUND);
      await rejectsWith(task.state({ id: "nope" }), Code.NOT_FOUND);

      const pids = await task.pids({ id: "c1" });
      assert.ok(pids.processes.some((p) => p.pid === created.pid));

      await task.update({
        id: "c1",
        resources: {
          typeUrl: "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources",
          value: Buffer.from(JSON.stringify({ pids: { limit: 50 } })),
        },
      });
      const cgroup = readFileSync(`/proc/${created.pid}/cgroup`, "utf8")
        .split("\n")
        .find((l) => l.split(":")[1]?.split(",").includes("pids"))
        ?.split(":")[2];
      assert.ok(cgroup !== undefined);
      assert.equal(readFileSync(join("/sys/fs/cgroup/pids", cgroup, "pids.max"), "utf8").trim(), "50");
      // Only a task that writes a CRI log (cri-log://) has a log to reopen.
      await rejectsWith(
        task.update({ id: "c1", annotations: { [REOPEN_LOG_ANNOTATION]: "1" } }),
        Code.FAILED_PRECONDITION,
        /cri-log/,
      );

      const stats = await task.stats({ id: "c1" });
      assert.equal(stats.stats?.typeUrl, "io.containerd.cgroups.v1.Metrics");
      assert.ok((stats.stats?.value.length ?? 0) > 0);

      await task.pause({ id: "c1" });
      assert.equal((await task.state({ id: "c1" })).status, Status.PAUSED);
      await rejectsWith(task.pause({ id: "c1" }), Code.FAILED_PRECONDITION);
      await task.resume({ id: "c1" });
      await rejectsWith(task.checkpoint({ id: "c1", path: "/x" }), Code.UNIMPLEMENTED, /not supported/);
      await rejectsWith(task.delete({ id: "c1" }), Code.FAILED_PRECONDITION, /running/);

      const exit = task.wait({ id: "c1" });
      await task.kill({ id: "c1", signal: 9 });
      assert.equal((await exit).exitStatus, 137);
      await rejectsWith(task.kill({ id: "c1", signal: 9 }), Code.NOT_FOUND);
      const deleted = await task.delete({ id: "c1" });
      assert.equal(deleted.exitStatus, 137);
      assert.equal(deleted.pid, created.pid);
      assert.ok(
        !readFileSync("/proc/self/mountinfo", "utf8").includes(join(bundle, "rootfs")),
        "rootfs unmounted",
      );
      assert.match(readFileSync(log, "utf8"), /^started\n/);

      const connect = await task.connect({ id: "c1" });
      assert.equal(connect.shimPid, process.pid);
      await task.shutdown({ id: "c1" });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(shutdowns, 1);

      await publisher.flush(5_000);
      assert.deepEqual(
        events.map((e) => e.topic),
        [
          "/tasks/create",
          "/tasks/start",
          "/tasks/exec-added",
          "/tasks/exec-started",
          "/tasks/exit",
          "/tasks/paused",
          "/tasks/resumed",
          "/tasks/exit",
          "/tasks/delete",
        ],
      );
      assert.ok(
        events.every((e) => e.namespace === "svc-test" && e.event?.typeUrl.startsWith("containerd.events.")),
      );
    });

    it("writes a cri-log:// task's CRI log itself, and reopens it on Update with the reopen annotation", async () => {
      const logBundle = join(dir, "bundle-log");
      mkdirSync(logBundle);
      const spec = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
      spec.process.args = ["sh", "-c", "echo one; echo two >&2; while true; do echo tick; sleep 0.1; done"];
      writeFileSync(join(logBundle, "config.json"), JSON.stringify(spec));
      const log = join(dir, "pods", "c2", "0.log");
      const uri = `cri-log://${log}`;
      const created = await task.create({
        id: "c2",
        bundle: logBundle,
        rootfs: [{ type: "bind", source: join(dir, "image"), target: "", options: ["rbind", "ro"] }],
        stdout: uri,
        stderr: uri,
        options,
      });
      assert.ok(created.pid > 0);
      assert.equal((await task.state({ id: "c2" })).stdout, uri);
      await task.start({ id: "c2" });
      const read = (path: string) =>
        readFileSync(path, "utf8")
          .split("\n")
          .slice(0, -1)
          .map((l) => l.split(" ").slice(1).join(" "));
      const until = async (what: string, ok: () => boolean) => {
        for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(ok(), what);
      };
      // Two pipes, read as their data comes: the order across streams is the order of the reads.
      await until(
        "both streams and ticks in the log",
        () =>
          existsSync(log) &&
          ["stdout F one", "stderr F two", "stdout F tick"].every((l) => read(log).includes(l)),
      );

      renameSync(log, `${log}.1`);
      await task.update({ id: "c2", annotations: { [REOPEN_LOG_ANNOTATION]: "1" } });
      await until("ticks in the reopened log", () => existsSync(log) && read(log).includes("stdout F tick"));
      assert.ok(read(`${log}.1`).every((l) => ["stdout F one", "stderr F two", "stdout F tick"].includes(l)));

      const exit = task.wait({ id: "c2" });
      await task.kill({ id: "c2", signal: 9 });
      assert.equal((await exit).exitStatus, 137);
      await task.delete({ id: "c2" });
      assert.ok(read(log).every((l) => l === "stdout F tick"));
    });
  },
);
