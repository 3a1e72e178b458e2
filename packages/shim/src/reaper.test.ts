import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { before, describe, it } from "node:test";
import { ForeignWatch, Reaper, UNKNOWN_EXIT, exitStatusOf, parseStat, readStat } from "./reaper.js";
import { initLibc, setChildSubreaper } from "./sys.js";

describe("reaper", () => {
  before(async () => {
    await initLibc();
  });

  it("parses /proc/<pid>/stat with odd command names", () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 2)).join(" ");
    const stat = parseStat(`42 (a b) c)) Z ${rest}\n`);
    // proc(5): ppid is field 4, starttime field 22, exit_code field 52.
    assert.deepEqual(stat, { state: "Z", ppid: 2, startTime: 20, exitCode: 50 });
    assert.equal(parseStat("garbage"), undefined);
  });

  it("turns wait statuses into shell exit codes", () => {
    assert.equal(exitStatusOf(7 << 8), 7);
    assert.equal(exitStatusOf(9), 137);
    assert.equal(exitStatusOf(15 | 0x80), 143); // core dumped
  });

  it("watches a process that is not its child: unknown status once it is gone, none while it runs", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    const pid = child.pid ?? 0;
    const started = await readStat(pid);
    assert.ok(started !== undefined && started.startTime > 0);
    const watch = new ForeignWatch(20);
    try {
      let exit: unknown;
      watch.watch(pid, started.startTime, (e) => {
        exit = e;
      });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(exit, undefined, "no exit while the process runs");
      // Another process under the same pid (a different start time) is not ours.
      const other = new ForeignWatch(20);
      const wrongStart = new Promise((resolve) => other.watch(pid, started.startTime + 1, resolve));
      assert.deepEqual(await wrongStart, UNKNOWN_EXIT);
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await gone; // Node reaped it: the status is unknown to anyone else
      await waitUntil(() => exit !== undefined);
      assert.deepEqual(exit, UNKNOWN_EXIT);
    } finally {
      watch.stop();
      child.kill("SIGKILL");
    }
  });

  it("reports the exit code and 128+signal of an orphan re-parented to us", async () => {
    setChildSubreaper();
    const reaper = new Reaper();
    reaper.start();
    // Signal handlers alone do not keep the event loop running.
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      // sh starts a grandchild and exits: the grandchild becomes our child (subreaper).
      const run = (script: string) =>
        new Promise<number>((resolve, reject) => {
          const sh = spawn("sh", ["-c", `${script} & echo $!`], { stdio: ["ignore", "pipe", "ignore"] });
          let out = "";
          sh.stdout.on("data", (d: Buffer) => {
            out += d.toString();
          });
          sh.on("close", () => resolve(Number(out.trim())));
          sh.on("error", reject);
        });
      const exited = (pid: number) =>
        new Promise<number>((resolve) => reaper.watch(pid, (e) => resolve(e.status)));
      // As around runc create/exec: no zombie sweep until the new pids are watched.
      const statuses = await reaper.hold(async () => {
        const a = exited(await run("sh -c 'sleep 0.3; exit 7'"));
        const b = exited(await run("sh -c 'sleep 0.3; kill -9 $$'"));
        return [a, b];
      });
      assert.deepEqual(await Promise.all(statuses), [7, 137]);
    } finally {
      clearInterval(keepAlive);
      reaper.stop();
    }
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), "condition not met within 2 s");
}
