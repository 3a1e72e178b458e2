// A Berth shim that dies takes no container with it: berthd starts the shim again, the new
// one adopts the group's containers (docs/faults.md), and Debian's ctr sees them run on,
// their output copied on without a line lost, exec and kill working. An exit while no
// shim was alive is reported with the reason the design can give. runc's shim is the
// contrast: its containers are cleaned up (tasks.test.ts).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir, waitFor } from "./fixtures/tmp.js";

const RUNTIME = "io.containerd.berth.v2";

/** Numbered lines, one every 20 ms, for ever: `<name> <n>`. */
const chatty = (name: string) => [
  "sh",
  "-c",
  `i=0; while true; do echo "${name} $i"; i=$((i+1)); usleep 20000; done`,
];

/** The numbers of `name`'s lines in `text`, in order. */
function sequence(text: string, name: string): number[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name} `))
    .map((l) => Number(l.slice(name.length + 1)));
}

/** Gaps in a sequence that should count up by one: [after, next] pairs. */
function gaps(seq: number[]): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  for (let i = 1; i < seq.length; i++) if (seq[i] !== seq[i - 1]! + 1) found.push([seq[i - 1]!, seq[i]!]);
  return found;
}

async function shimPidOf(socket: string): Promise<number> {
  const { stdout } = await execa("fuser", [socket], { reject: false });
  return Number(stdout.trim().split(/\s+/)[0]);
}

const sleep = (ms: number) => new Promise<false>((r) => setTimeout(() => r(false), ms));

/** The pid of a running `runc ... create ... <id>`, or 0. */
function runcCreateOf(id: string): number {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (argv[0]?.endsWith("runc") && argv.includes("create") && argv.includes(id)) return Number(name);
  }
  return 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("a dead Berth shim's containers are adopted by a new shim", () => {
  let registry: Registry;
  let image: PushedImage;
  let daemon: DaemonUnderTest;
  let logs: string;
  const ns = `adopt-${randomBytes(3).toString("hex")}`;
  const ok = (args: string[], timeoutMs = 60_000) =>
    ctrOk(daemon.address, args, { namespace: ns, timeoutMs });
  const tasks = async () =>
    new Map(parseTable((await ok(["tasks", "ls"])).stdout).map((r) => [r.TASK ?? "", r]));
  const bundleOf = (id: string) => join(daemon.state, "io.containerd.runtime.v2.task", ns, id);
  const socketOf = (id: string) =>
    readFileSync(join(bundleOf(id), "address"), "utf8")
      .trim()
      .replace("unix://", "");

  /** Runs a group of chatty containers writing to their own file:// logs; returns their ids. */
  async function runGroup(size: number): Promise<string[]> {
    const group = `g-${randomBytes(3).toString("hex")}`;
    const ids = Array.from({ length: size }, (_, i) => `${group}-${i}`);
    for (const id of ids) {
      await ok([
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--log-uri",
        `file://${join(logs, `${id}.log`)}`,
        "--annotation",
        `io.containerd.runc.v2.group=${group}`,
        image.ref,
        id,
        ...chatty(id),
      ]);
    }
    return ids;
  }

  async function removeAll(ids: string[]): Promise<void> {
    for (const id of ids) {
      await ctr(daemon.address, ["tasks", "kill", "-s", "SIGKILL", id], { namespace: ns });
      await waitFor(async () => (await tasks()).get(id)?.STATUS !== "RUNNING", {
        timeoutMs: 10_000,
        what: `${id} stopped`,
      });
      await ok(["tasks", "rm", id]);
      await ok(["containers", "rm", id]);
    }
  }

  before(async () => {
    registry = await startRegistry();
    image = await buildSimpleImage(registry.host, "berth/adopt", "v1");
    daemon = await startBerthdDaemon();
    logs = await tempDir("adopt-logs-");
    await ok(["images", "pull", "--plain-http", image.ref]);
  });
  after(async () => {
    await daemon?.stop();
    await registry?.stop();
    if (logs) await removeDir(logs);
  });

  test("SIGKILL of a pooled shim: every container runs on, adopted within 2 s, no line lost", async (t) => {
    const ids = await runGroup(8);
    const socket = socketOf(ids[0]!);
    const before = await tasks();
    const pids = ids.map((id) => Number(before.get(id)?.PID));
    assert.ok(
      pids.every((p) => p > 0),
      "task pids",
    );
    const oldShim = await shimPidOf(socket);
    assert.ok(oldShim > 0, "shim pid");
    await new Promise((r) => setTimeout(r, 500));
    const killedAt = Date.now();
    process.kill(oldShim, "SIGKILL");
    let newShim = 0;
    await waitFor(
      async () => {
        newShim = await shimPidOf(socket);
        if (!(newShim > 0 && newShim !== oldShim)) return false;
        const now = await tasks();
        return ids.every((id) => now.get(id)?.STATUS === "RUNNING");
      },
      { timeoutMs: 10_000, intervalMs: 50, what: "a new shim serving the group's tasks" },
    );
    const adoptedMs = Date.now() - killedAt;
    t.diagnostic(`8 containers adopted ${adoptedMs} ms after their shim's SIGKILL`);
    assert.ok(adoptedMs < 2_000, `adopted within 2 s (took ${adoptedMs} ms)`);
    const now = await tasks();
    for (const [i, id] of ids.entries()) {
      assert.equal(Number(now.get(id)?.PID), pids[i], `${id} is the same process`);
      assert.ok(alive(pids[i]!), `${id}'s process lives`);
    }
    // The output goes on into the same logs, with nothing lost across the shim's death.
    await new Promise((r) => setTimeout(r, 1_000));
    for (const id of ids) {
      const seq = sequence(await readFile(join(logs, `${id}.log`), "utf8"), id);
      assert.equal(seq[0], 0, `${id}'s log starts at its first line`);
      assert.deepEqual(gaps(seq), [], `${id}: lines lost`);
      assert.ok(seq.length > 50, `${id} wrote on (${seq.length} lines)`);
    }
    // The adopted tasks answer as before: exec, ps, kill.
    assert.equal(
      (await ok(["tasks", "exec", "--exec-id", "e1", ids[0]!, "echo", "adopted"])).stdout.trim(),
      "adopted",
    );
    assert.ok(
      (await ok(["tasks", "ps", ids[1]!])).stdout.includes(String(pids[1])),
      "ps lists the init process",
    );
    // A new container of the group joins the adopted shim.
    const [joined] = await runGroupInto(ids[0]!.replace(/-0$/, ""), 1);
    assert.equal(socketOf(joined!), socket, "the new container joins the group's new shim");
    await removeAll([...ids, joined!]);
    await waitFor(async () => !alive(newShim), {
      timeoutMs: 10_000,
      what: "the new shim exits with its last task",
    });
    for (const id of [...ids, joined!]) assert.equal(existsSync(bundleOf(id)), false, `${id}'s bundle`);
    const runcList = await execa("runc", ["--root", `/run/berth/runc/${ns}`, "list", "-q"], {
      reject: false,
    });
    for (const id of ids)
      assert.equal(runcList.stdout.split("\n").includes(id), false, `runc state of ${id}`);
  });

  /** One more container in an existing group. */
  async function runGroupInto(group: string, n: number): Promise<string[]> {
    const ids = Array.from({ length: n }, (_, i) => `${group}-late${i}`);
    for (const id of ids) {
      await ok([
        "run",
        "-d",
        "--runtime",
        RUNTIME,
        "--annotation",
        `io.containerd.runc.v2.group=${group}`,
        image.ref,
        id,
        "sleep",
        "1000",
      ]);
    }
    return ids;
  }

  test("a container that exits while no shim is alive: its exit is reported, and the others live", async (t) => {
    const ids = await runGroup(3);
    const socket = socketOf(ids[0]!);
    const pids = ids.map(async (id) => Number((await tasks()).get(id)?.PID));
    const [victim] = await Promise.all(pids);
    const shim = await shimPidOf(socket);
    const events = spawn("/usr/bin/ctr", ["--address", daemon.address, "--namespace", ns, "events"]);
    let seen = "";
    events.stdout.on("data", (b: Buffer) => {
      seen += b.toString();
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      // Freeze the shim, so that it cannot see the exit (nor read), then kill both.
      process.kill(shim, "SIGSTOP");
      const readBefore = sequence(await readFile(join(logs, `${ids[0]}.log`), "utf8"), ids[0]!).length;
      await new Promise((r) => setTimeout(r, 300)); // lines the frozen shim does not read
      process.kill(victim!, "SIGKILL");
      await waitFor(() => !alive(victim!) || readFileSync(`/proc/${victim}/stat`, "utf8").includes(") Z "), {
        timeoutMs: 5_000,
        what: "the container's process gone",
      });
      process.kill(shim, "SIGKILL");
      const killedAt = Date.now();
      await waitFor(async () => (await tasks()).get(ids[0]!)?.STATUS === "STOPPED", {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: "the exit reported",
      });
      t.diagnostic(`exit seen ${Date.now() - killedAt} ms after the shim's death`);
      await waitFor(() => seen.includes("/tasks/exit"), { timeoutMs: 5_000, what: "a /tasks/exit event" });
      const exit = seen.split("\n").find((l) => l.includes("/tasks/exit") && l.includes(ids[0]!)) ?? "";
      // Killed by SIGKILL: 137 when the zombie was still there to read, else unknown (255, pid 0).
      assert.match(exit, /"exit_status":(137|255)/, exit);
      t.diagnostic(`reported: ${exit}`);
      // What it wrote while nobody read waited in its FIFO, held open by berthd, and the
      // new shim copied it into the log.
      const seq = sequence(await readFile(join(logs, `${ids[0]}.log`), "utf8"), ids[0]!);
      assert.deepEqual(gaps(seq), [], "lines lost");
      assert.ok(
        seq.length >= readBefore + 5,
        `lines written while the shim was frozen: ${readBefore} → ${seq.length}`,
      );
      const now = await tasks();
      assert.equal(now.get(ids[1]!)?.STATUS, "RUNNING");
      assert.equal(now.get(ids[2]!)?.STATUS, "RUNNING");
    } finally {
      events.kill();
    }
    const deleted = await ok(["tasks", "rm", ids[0]!]);
    t.diagnostic(deleted.stdout.trim());
    await ok(["containers", "rm", ids[0]!]);
    await removeAll(ids.slice(1));
  });

  test("runc killed in the middle of a create: the create fails, nothing is left, the id works again", async (t) => {
    let caught = 0;
    for (let attempt = 0; attempt < 5 && caught === 0; attempt++) {
      const id = `midcreate-${attempt}`;
      const running = ctr(
        daemon.address,
        ["run", "-d", "--runtime", RUNTIME, image.ref, id, "sleep", "1000"],
        {
          namespace: ns,
        },
      );
      // Bounded: the create takes some tens of milliseconds.
      const until = Date.now() + 10_000;
      while (Date.now() < until && caught === 0) {
        const pid = runcCreateOf(id);
        if (pid > 0) {
          process.kill(pid, "SIGKILL");
          caught = pid;
        }
        if (caught === 0 && (await Promise.race([running.then(() => true), sleep(2)]))) break;
      }
      const r = await running;
      if (caught === 0) {
        // Too quick to catch this time: take it away and try again.
        await ctr(daemon.address, ["tasks", "rm", "-f", id], { namespace: ns });
        await ctr(daemon.address, ["containers", "rm", id], { namespace: ns });
        continue;
      }
      t.diagnostic(`runc create ${caught} killed; ctr: ${r.stderr.trim().split("\n").pop()}`);
      assert.notEqual(r.exitCode, 0, "the create fails");
      assert.equal((await tasks()).has(id), false, "no task");
      const runcList = await execa("runc", ["--root", `/run/berth/runc/${ns}`, "list", "-q"], {
        reject: false,
      });
      assert.equal(runcList.stdout.split("\n").includes(id), false, "runc state left behind");
      assert.equal(existsSync(bundleOf(id)), false, "bundle left behind");
      await ctr(daemon.address, ["containers", "rm", id], { namespace: ns });
      await ok(["run", "-d", "--runtime", RUNTIME, image.ref, id, "sleep", "1000"]);
      assert.equal((await tasks()).get(id)?.STATUS, "RUNNING", "the same id runs");
      await removeAll([id]);
    }
    assert.ok(caught > 0, "a runc create was caught and killed in 5 tries");
  });

  test("SIGKILL of a shim while berthd is down: berthd adopts on its return", async () => {
    const ids = await runGroup(2);
    const socket = socketOf(ids[0]!);
    const pids = await Promise.all(ids.map(async (id) => Number((await tasks()).get(id)?.PID)));
    const shim = await shimPidOf(socket);
    await daemon.kill();
    process.kill(shim, "SIGKILL");
    await new Promise((r) => setTimeout(r, 500));
    await daemon.restart();
    await waitFor(
      async () => {
        const now = await tasks();
        return ids.every((id) => now.get(id)?.STATUS === "RUNNING");
      },
      { timeoutMs: 10_000, what: "tasks running after berthd's return" },
    );
    for (const p of pids) assert.ok(alive(p), `process ${p} lives`);
    assert.notEqual(await shimPidOf(socket), shim, "a new shim serves the group");
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) {
      const seq = sequence(await readFile(join(logs, `${id}.log`), "utf8"), id);
      assert.deepEqual(gaps(seq), [], `${id}: lines lost`);
    }
    await removeAll(ids);
  });
});
