// containerd-shim-berth-v2 driven by Debian's containerd 1.6 through Debian's ctr: the
// runtime `io.containerd.berth.v2` resolves to our shim through PATH, and every task
// operation ctr offers must behave as it does with containerd's own runc shim.

import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { type Containerd, startContainerd } from "./fixtures/containerd.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { buildSimpleImage } from "./fixtures/images.js";
import { argvOfSync } from "./fixtures/proc.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { cleanupTempDirs, sleep, tempDir, waitFor } from "./fixtures/tmp.js";

const NS = "berth-shim-e2e";
const RUNTIME = "io.containerd.berth.v2";
const SHIM_MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../../packages/shim/dist/main.js");

/** Pids of our shims serving the containerd at `address` (their process title names them). */
function shimPids(address: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = argvOfSync(entry);
    } catch {
      continue;
    }
    const i = argv.indexOf("-address");
    if (argv[0] === "containerd-shim-berth-v2" && i >= 0 && argv[i + 1] === address) pids.push(Number(entry));
  }
  return pids;
}

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

/** Runs a shell command under script(1), which gives it a pseudo-terminal. */
function execScript(command: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/script", ["-eqc", command, "/dev/null"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, output });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("containerd 1.6 drives containerd-shim-berth-v2", { timeout: 600_000 }, () => {
  let registry: Registry | undefined;
  let containerd: Containerd | undefined;
  let image = "";
  let savedPath: string | undefined;
  let events: ChildProcess | undefined;
  let eventLog = "";

  const address = (): string => containerd?.address ?? assert.fail("containerd not started");
  const run = (args: string[], timeoutMs = 60_000) => ctr(address(), args, { namespace: NS, timeoutMs });
  const runOk = (args: string[], timeoutMs = 60_000) => ctrOk(address(), args, { namespace: NS, timeoutMs });

  async function taskRow(id: string): Promise<Record<string, string> | undefined> {
    const rows = parseTable((await runOk(["tasks", "ls"])).stdout);
    return rows.find((r) => r.TASK === id);
  }

  before(async () => {
    assert.ok(existsSync(SHIM_MAIN), `${SHIM_MAIN} is missing: build with 'npx tsc -b packages/shim'`);
    // containerd looks up containerd-shim-berth-v2 on its PATH; the fixture passes our env on.
    const bin = await tempDir("shim-bin");
    const wrapper = join(bin, "containerd-shim-berth-v2");
    writeFileSync(wrapper, `#!/bin/sh\nexec node ${SHIM_MAIN} "$@"\n`);
    chmodSync(wrapper, 0o755);
    savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`;

    registry = await startRegistry();
    image = (await buildSimpleImage(registry.host)).ref;
    containerd = await startContainerd();
    await runOk(["images", "pull", "--plain-http", image], 300_000);

    events = spawn("/usr/bin/ctr", ["--address", address(), "events"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    events.stdout?.on("data", (d: Buffer) => {
      eventLog += d.toString();
    });
  });

  after(async () => {
    events?.kill("SIGKILL");
    if (containerd !== undefined) {
      for (const row of parseTable((await run(["tasks", "ls"])).stdout)) {
        if (row.TASK === undefined) continue;
        await run(["tasks", "kill", "-s", "SIGKILL", row.TASK]);
        await run(["tasks", "delete", "-f", row.TASK]);
      }
      for (const row of parseTable((await run(["containers", "ls"])).stdout)) {
        if (row.CONTAINER !== undefined) await run(["containers", "rm", row.CONTAINER]);
      }
      for (const pid of shimPids(containerd.address)) process.kill(pid, "SIGKILL");
      await containerd.stop();
    }
    await registry?.stop();
    if (savedPath !== undefined) process.env.PATH = savedPath;
    await cleanupTempDirs();
  });

  it("ctr run --rm prints the container's output", async () => {
    const r = await runOk(["run", "--rm", "--runtime", RUNTIME, image, "t1", "echo", "hi"]);
    assert.equal(r.stdout, "hi\n");
  });

  it("propagates the exit code", async () => {
    const r = await run(["run", "--rm", "--runtime", RUNTIME, image, "t-exit", "sh", "-c", "exit 3"]);
    assert.equal(r.exitCode, 3, r.stderr);
  });

  it("publishes /tasks/create, /tasks/start, /tasks/exit and /tasks/delete in order", async () => {
    await runOk(["run", "--rm", "--runtime", RUNTIME, image, "t-ev", "true"]);
    const topics = await waitFor(
      () => {
        const mine = eventLog
          .split("\n")
          .filter((l) => l.includes(`"t-ev"`) && l.includes(` ${NS} `))
          .map((l) => /\/tasks\/[a-z-]+/.exec(l)?.[0])
          .filter((topic) => topic !== undefined);
        return mine.includes("/tasks/delete") && mine;
      },
      { what: "task events of t-ev", timeoutMs: 10_000 },
    );
    assert.deepEqual(topics, ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]);
  });

  it("runs detached, and exec runs a process in it with its own output and exit code", async () => {
    await runOk([
      "run",
      "-d",
      "--runtime",
      RUNTIME,
      image,
      "t2",
      "sh",
      "-c",
      'trap "exit 42" TERM; while :; do sleep 1; done',
    ]);
    assert.equal((await taskRow("t2"))?.STATUS, "RUNNING");
    const hello = await runOk(["tasks", "exec", "--exec-id", "e1", "t2", "echo", "hello"]);
    assert.equal(hello.stdout, "hello\n");
    const failing = await run(["tasks", "exec", "--exec-id", "e2", "t2", "sh", "-c", "exit 5"]);
    assert.equal(failing.exitCode, 5, failing.stderr);
  });

  it("refuses an exec id that is in use", async () => {
    const first = spawn(
      "/usr/bin/ctr",
      ["--address", address(), "--namespace", NS, "tasks", "exec", "--exec-id", "dup", "t2", "sleep", "5"],
      { stdio: "ignore" },
    );
    try {
      await sleep(1_000);
      const second = await run(["tasks", "exec", "--exec-id", "dup", "t2", "true"]);
      assert.notEqual(second.exitCode, 0);
      assert.match(second.stderr, /already exists/);
    } finally {
      first.kill("SIGKILL");
    }
  });

  it("lists the container's processes", async () => {
    const pid = Number((await taskRow("t2"))?.PID);
    const rows = parseTable((await runOk(["tasks", "ps", "t2"])).stdout);
    assert.ok(
      rows.some((r) => Number(r.PID) === pid),
      JSON.stringify(rows),
    );
  });

  it("pauses and resumes", async () => {
    await runOk(["tasks", "pause", "t2"]);
    assert.equal((await taskRow("t2"))?.STATUS, "PAUSED");
    await runOk(["tasks", "resume", "t2"]);
    assert.equal((await taskRow("t2"))?.STATUS, "RUNNING");
  });

  it("reports cgroup metrics", async () => {
    const r = await runOk(["tasks", "metrics", "t2"]);
    const rows = new Map(
      r.stdout
        .split("\n")
        .map((l) => l.trim().split(/\s+/))
        .filter((cells) => cells.length === 2)
        .map(([k, v]) => [k, v]),
    );
    assert.ok(Number(rows.get("memory.usage_in_bytes")) > 0, r.stdout);
    assert.ok(Number(rows.get("pids.current")) >= 1, r.stdout);
  });

  it("delivers SIGTERM and reports the task stopped", async () => {
    await runOk(["tasks", "kill", "-s", "SIGTERM", "t2"]);
    await waitFor(async () => (await taskRow("t2"))?.STATUS === "STOPPED", {
      what: "t2 to stop",
      timeoutMs: 15_000,
    });
    const killAgain = await run(["tasks", "kill", "t2"]);
    assert.notEqual(killAgain.exitCode, 0, "killing a stopped task fails");
    await runOk(["tasks", "delete", "t2"]);
    await runOk(["containers", "rm", "t2"]);
  });

  it("serves every container of a group from one shim, until the last is deleted", async () => {
    const group = ["--annotation", "io.containerd.runc.v2.group=g1"];
    for (const id of ["g1a", "g1b"]) {
      await runOk(["run", "-d", ...group, "--runtime", RUNTIME, image, id, "sleep", "300"]);
    }
    const pids = await Promise.all(["g1a", "g1b"].map(async (id) => Number((await taskRow(id))?.PID)));
    const shims = pids.map(parentOf);
    assert.equal(shims[0], shims[1], "both containers are children of the same shim");
    const shim = shims[0]!;
    await runOk(["tasks", "kill", "-s", "SIGKILL", "g1a"]);
    await waitFor(async () => (await taskRow("g1a"))?.STATUS === "STOPPED", { what: "g1a to stop" });
    await runOk(["tasks", "delete", "g1a"]);
    await runOk(["containers", "rm", "g1a"]);
    assert.ok(alive(shim), "the shim stays for g1b");
    assert.equal(
      (await runOk(["tasks", "exec", "--exec-id", "e", "g1b", "echo", "still"])).stdout,
      "still\n",
    );
    await runOk(["tasks", "kill", "-s", "SIGKILL", "g1b"]);
    await waitFor(async () => (await taskRow("g1b"))?.STATUS === "STOPPED", { what: "g1b to stop" });
    await runOk(["tasks", "delete", "g1b"]);
    await runOk(["containers", "rm", "g1b"]);
    await waitFor(() => !alive(shim), {
      what: "the shim to exit after its last container",
      timeoutMs: 10_000,
    });
  });

  it("gives a container a terminal (ctr run -t)", async () => {
    // ctr -t needs a terminal of its own: script(1) provides one and returns ctr's exit code.
    const command = `ctr --address ${address()} --namespace ${NS} run --rm -t --runtime ${RUNTIME} ${image} tty1 sh -c 'tty; exit 4'`;
    const r = await execScript(command);
    assert.equal(r.code, 4, r.output);
    assert.match(r.output, /\/dev\/pts\/\d+/);

    await runOk(["run", "-d", "--runtime", RUNTIME, image, "tty2", "sleep", "300"]);
    const exec = await execScript(
      `ctr --address ${address()} --namespace ${NS} tasks exec -t --exec-id x tty2 sh -c 'tty; exit 6'`,
    );
    assert.equal(exec.code, 6, exec.output);
    assert.match(exec.output, /\/dev\/pts\/\d+/);
    assert.doesNotMatch(exec.output, /resize pty|error/i);
    await runOk(["tasks", "kill", "-s", "SIGKILL", "tty2"]);
    await waitFor(async () => (await taskRow("tty2"))?.STATUS === "STOPPED", { what: "tty2 to stop" });
    await runOk(["tasks", "delete", "tty2"]);
    await runOk(["containers", "rm", "tty2"]);
  });

  it("reports an OOM kill as /tasks/oom before the exit", async () => {
    const hog = "x=0123456789abcdef; while :; do x=$x$x; done";
    const r = await run([
      "run",
      "--rm",
      "--memory-limit",
      String(16 << 20),
      "--runtime",
      RUNTIME,
      image,
      "oom1",
      "sh",
      "-c",
      hog,
    ]);
    assert.equal(r.exitCode, 137, r.stderr);
    const topics = await waitFor(
      () => {
        const mine = eventLog
          .split("\n")
          .filter((l) => l.includes('"oom1"') && l.includes(` ${NS} `))
          .map((l) => /\/tasks\/[a-z-]+/.exec(l)?.[0])
          .filter((topic) => topic !== undefined);
        return mine.includes("/tasks/delete") && mine;
      },
      { what: "task events of oom1", timeoutMs: 10_000 },
    );
    assert.deepEqual(topics, ["/tasks/create", "/tasks/start", "/tasks/oom", "/tasks/exit", "/tasks/delete"]);
  });

  it("lets containerd clean up after the shim is killed", async () => {
    await runOk(["run", "-d", "--runtime", RUNTIME, image, "t3", "sleep", "300"]);
    const pid = Number((await taskRow("t3"))?.PID);
    assert.ok(pid > 0);
    const shim = parentOf(pid);
    assert.ok(shimPids(address()).includes(shim), `the container's parent ${shim} is our shim`);
    process.kill(shim, "SIGKILL");
    // containerd notices the closed connection and runs `containerd-shim-berth-v2 delete`.
    await waitFor(async () => !alive(pid), {
      what: "the orphaned container to be removed",
      timeoutMs: 30_000,
    });
    await waitFor(
      async () => {
        const row = await taskRow("t3");
        if (row === undefined) return true;
        await run(["tasks", "delete", "t3"]);
        return false;
      },
      { what: "task t3 to be gone", timeoutMs: 30_000, intervalMs: 500 },
    );
    await runOk(["containers", "rm", "t3"]);
  });

  it("leaves no shim socket behind", () => {
    const left = ["t1", "t-exit", "t-ev", "t2", "g1", "tty1", "tty2", "oom1", "t3"].filter((group) => {
      const digest = createHash("sha256").update(`${address()}/${NS}/${group}`).digest("hex");
      return existsSync(`/run/berth/s/${digest}`);
    });
    assert.deepEqual(left, []);
  });
});

describe("containerd-shim-berth-v2 outlives the daemon", { timeout: 600_000 }, () => {
  let registry: Registry | undefined;
  let first: Containerd | undefined;
  let second: Containerd | undefined;
  let image = "";
  let savedPath: string | undefined;

  before(async () => {
    assert.ok(existsSync(SHIM_MAIN), `${SHIM_MAIN} is missing: build with 'npx tsc -b packages/shim'`);
    const bin = await tempDir("shim-bin");
    const wrapper = join(bin, "containerd-shim-berth-v2");
    writeFileSync(wrapper, `#!/bin/sh\nexec node ${SHIM_MAIN} "$@"\n`);
    chmodSync(wrapper, 0o755);
    savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`;
    registry = await startRegistry();
    image = (await buildSimpleImage(registry.host)).ref;
  });

  after(async () => {
    for (const daemon of [second, first]) {
      if (daemon === undefined) continue;
      for (const pid of shimPids(daemon.address)) process.kill(pid, "SIGKILL");
    }
    await second?.stop();
    await first?.stop();
    await registry?.stop();
    if (savedPath !== undefined) process.env.PATH = savedPath;
    await cleanupTempDirs();
  });

  it("keeps the task while containerd is dead and hands it to the restarted daemon", async () => {
    const root = await tempDir("ctd-root");
    const state = await tempDir("ctd-state");
    first = await startContainerd({ root, state });
    const a = first.address;
    await ctrOk(a, ["images", "pull", "--plain-http", image], { namespace: NS, timeoutMs: 300_000 });
    await ctrOk(a, ["run", "-d", "--runtime", RUNTIME, image, "td", "sleep", "300"], { namespace: NS });
    const rows = parseTable((await ctrOk(a, ["tasks", "ls"], { namespace: NS })).stdout);
    const pid = Number(rows.find((r) => r.TASK === "td")?.PID);
    const shim = parentOf(pid);

    process.kill(first.pid, "SIGKILL");
    await waitFor(() => !alive(first?.pid ?? 0), { what: "containerd to die" });
    // The container exits while nobody listens for its events.
    process.kill(pid, "SIGKILL");
    await sleep(1_500);
    assert.ok(alive(shim), "the shim survives the daemon");

    second = await startContainerd({ root, state });
    const b = second.address;
    await waitFor(
      async () => {
        const r = parseTable((await ctrOk(b, ["tasks", "ls"], { namespace: NS })).stdout);
        return r.find((t) => t.TASK === "td")?.STATUS === "STOPPED";
      },
      { what: "the restarted containerd to see td stopped through the shim", timeoutMs: 30_000 },
    );
    await ctrOk(b, ["tasks", "delete", "td"], { namespace: NS });
    await ctrOk(b, ["containers", "rm", "td"], { namespace: NS });
    await waitFor(() => !alive(shim), {
      what: "the shim to exit after its task is deleted",
      timeoutMs: 10_000,
    });
  });
});
