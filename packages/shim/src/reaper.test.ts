import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { before, describe, it } from "node:test";
import { Reaper, parseStat } from "./reaper.js";
import { initLibc, setChildSubreaper } from "./sys.js";

describe("reaper", () => {
  before(async () => {
    await initLibc();
  });

  it("parses /proc/<pid>/stat with odd command names", () => {
    assert.deepEqual(parseStat("42 (a b) c)) Z 7 42 42 0"), { state: "Z", ppid: 7 });
    assert.equal(parseStat("garbage"), undefined);
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
