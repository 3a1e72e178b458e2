// Debian's ctr 1.6 runs containers through berthd with real runc, through both Debian's
// containerd-shim-runc-v2 and Berth's own shim: run, exit codes, exec, kill, ps,
// metrics, pause/resume, events, a TTY, restart of berthd with 20 containers running,
// a killed shim, and bad input. The runc-shim steps also run against containerd.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { execa } from "execa";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { tempDir, waitFor } from "./fixtures/tmp.js";

const runtimes = ["io.containerd.runc.v2", "io.containerd.berth.v2"] as const;

function tasksByName(stdout: string): Map<string, Record<string, string>> {
  return new Map(parseTable(stdout).map((r) => [r.TASK ?? "", r]));
}

let registry: Registry;
let image: PushedImage;
before(async () => {
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/tasks", "v1");
});
after(async () => {
  await registry?.stop();
});

for (const { kind, start } of daemonKinds) {
  for (const runtime of runtimes) {
    // containerd drives Berth's shim in shim.test.ts; here it is the reference for runc's.
    if (kind === "containerd" && runtime === "io.containerd.berth.v2") continue;
    const short = runtime.split(".")[2];
    describe(`ctr tasks against ${kind} with ${runtime}`, () => {
      let daemon: DaemonUnderTest;
      // A namespace of its own per run: runc state a failed run left behind cannot collide.
      const ns = `tasks-${short}-${randomBytes(3).toString("hex")}`;
      const c = (args: string[], timeoutMs = 60_000) =>
        ctr(daemon.address, args, { namespace: ns, timeoutMs });
      const ok = (args: string[], timeoutMs = 60_000) =>
        ctrOk(daemon.address, args, { namespace: ns, timeoutMs });
      const run = (args: string[]) => ok(["run", "--runtime", runtime, ...args]);

      before(async () => {
        daemon = await start();
        await ok(["images", "pull", "--plain-http", image.ref]);
      });
      after(async () => {
        for (const t of parseTable((await c(["tasks", "ls"])).stdout)) {
          if (t.TASK) {
            await c(["tasks", "kill", "-s", "SIGKILL", t.TASK]);
            await c(["tasks", "rm", "-f", t.TASK]);
          }
        }
        for (const ct of parseTable((await c(["containers", "ls"])).stdout))
          if (ct.CONTAINER) await c(["containers", "rm", ct.CONTAINER]);
        await daemon?.stop();
      });

      test("ctr run --rm prints the output and returns the exit code", async () => {
        const r = await run(["--rm", image.ref, `${short}-echo`, "echo", "hi"]);
        assert.equal(r.stdout.trim(), "hi");
        const bad = await c([
          "run",
          "--runtime",
          runtime,
          "--rm",
          image.ref,
          `${short}-exit`,
          "sh",
          "-c",
          "echo out; echo err >&2; exit 3",
        ]);
        assert.equal(bad.exitCode, 3);
        assert.equal(bad.stdout.trim(), "out");
        assert.match(bad.stderr, /err/);
      });

      test("a detached task: ls, exec, ps, metrics, pause/resume, kill", async () => {
        const id = `${short}-long`;
        await run(["-d", image.ref, id, "sleep", "1000"]);
        let t = tasksByName((await ok(["tasks", "ls"])).stdout).get(id);
        assert.equal(t?.STATUS, "RUNNING");
        const pid = Number(t?.PID);
        assert.ok(pid > 0);
        assert.equal(
          (await ok(["tasks", "exec", "--exec-id", "e1", id, "sh", "-c", "echo hello; id -u"])).stdout.trim(),
          "hello\n0",
        );
        const reused = await c(["tasks", "exec", "--exec-id", "e1", id, "true"]);
        assert.equal(reused.exitCode, 0, "an exec id may be reused once its process is gone");
        const ps = parseTable((await ok(["tasks", "ps", id])).stdout);
        assert.ok(
          ps.some((p) => Number(p.PID) === pid),
          JSON.stringify(ps),
        );
        const metrics = (await ok(["tasks", "metrics", id])).stdout;
        assert.match(metrics, /memory\.usage_in_bytes\s+\d+/);
        await ok(["tasks", "pause", id]);
        assert.equal(tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS, "PAUSED");
        await ok(["tasks", "resume", id]);
        assert.equal(tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS, "RUNNING");
        await ok(["tasks", "kill", "-s", "SIGKILL", id]);
        await waitFor(
          async () => tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS === "STOPPED",
          { timeoutMs: 15_000, what: `${id} stopped` },
        );
        const killAgain = await c(["tasks", "kill", id]);
        assert.notEqual(killAgain.exitCode, 0);
        assert.match(killAgain.stderr, /not found|finished/);
        await ok(["tasks", "rm", id]);
        await ok(["containers", "rm", id]);
        t = tasksByName((await ok(["tasks", "ls"])).stdout).get(id);
        assert.equal(t, undefined);
      });

      test("SIGTERM reaches a process that handles it", async () => {
        const id = `${short}-term`;
        await run(["-d", image.ref, id, "sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"]);
        await new Promise((r) => setTimeout(r, 300));
        await ok(["tasks", "kill", "-s", "SIGTERM", id]);
        await waitFor(
          async () => tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS === "STOPPED",
          { timeoutMs: 15_000, what: `${id} stopped` },
        );
        const rm = await ok(["tasks", "rm", id]);
        assert.match(rm.stderr + rm.stdout, /42|^$/);
        await ok(["containers", "rm", id]);
      });

      test("ctr events shows task events in order", async () => {
        const events = spawn("/usr/bin/ctr", ["--address", daemon.address, "events"], {
          stdio: ["ignore", "pipe", "ignore"],
        });
        let out = "";
        events.stdout.on("data", (d: Buffer) => {
          out += d.toString();
        });
        try {
          await new Promise((r) => setTimeout(r, 300));
          const id = `${short}-events`;
          await run(["--rm", image.ref, id, "true"]);
          await waitFor(() => out.includes("/tasks/delete") && out.includes("/containers/delete"), {
            timeoutMs: 10_000,
            what: `task events in ${out}`,
          });
          const topics = out
            .split("\n")
            .filter((l) => l.includes(ns) && l.includes("/tasks/"))
            .map((l) => /\/tasks\/[a-z-]+/.exec(l)?.[0]);
          assert.deepEqual(topics, ["/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"]);
        } finally {
          events.kill("SIGKILL");
        }
      });

      test("ctr run -t through a pseudo-terminal", async () => {
        const id = `${short}-tty`;
        const cmd = `stty rows 30 cols 100; /usr/bin/ctr --address ${daemon.address} --namespace ${ns} run --runtime ${runtime} -t --rm ${image.ref} ${id} sh -c 'sleep 0.5; stty size; tty; echo tty-ok'`;
        const r = await execa("script", ["-qec", cmd, "/dev/null"], {
          reject: false,
          timeout: 60_000,
          env: { COLUMNS: "100", LINES: "30" },
        });
        assert.equal(r.exitCode, 0, r.stdout + r.stderr);
        assert.match(r.stdout, /tty-ok/);
        assert.match(r.stdout, /\/dev\/pts\/\d+/);
        assert.match(r.stdout, /^30 100\s*$/m, "the terminal's size reaches the container");
      });

      test("ctr task kill after runc deleted the container says not found", async () => {
        // Each shim keeps runc's state under its default root, one directory per namespace.
        const runcRoot = `${runtime === "io.containerd.berth.v2" ? "/run/berth/runc" : "/run/containerd/runc"}/${ns}`;
        for (const [id, removeState] of [
          [`${short}-gone`, "runc delete -f"],
          [`${short}-stateless`, "rm -rf <root>/<id>"],
        ] as const) {
          await run(["-d", image.ref, id, "sleep", "1000"]);
          const pid = Number(tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.PID);
          assert.ok(pid > 0);
          if (removeState === "runc delete -f") await execa("runc", ["--root", runcRoot, "delete", "-f", id]);
          else await execa("rm", ["-rf", join(runcRoot, id)]);
          const kill = await c(["tasks", "kill", "-s", "SIGKILL", id]);
          assert.notEqual(kill.exitCode, 0, `${removeState}: ${kill.stdout}`);
          assert.match(kill.stderr, /not found/, `${removeState}: ${kill.stderr}`);
          // The container's process went with its state, or runs on without it.
          try {
            process.kill(pid, "SIGKILL");
          } catch {}
          await waitFor(
            async () => tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS === "STOPPED",
            { timeoutMs: 15_000, what: `${id} stopped` },
          );
          await c(["tasks", "rm", "-f", id]);
          await ok(["containers", "rm", id]);
        }
      });

      if (runtime === "io.containerd.runc.v2") {
        // ctr offers --runc-binary for runc's own runtime name only; the Berth shim's
        // options are checked through the API in go-client-compat.test.ts.
        test("ctr run --runc-binary runs the container with that runc", async () => {
          const dir = await tempDir("runc-wrapper-");
          const log = join(dir, "calls.log");
          const wrapper = join(dir, "logging-runc");
          await writeFile(wrapper, `#!/bin/sh\necho "$*" >>${log}\nexec runc "$@"\n`, { mode: 0o755 });
          const r = await run([
            "--rm",
            "--runc-binary",
            wrapper,
            image.ref,
            `${short}-binary`,
            "echo",
            "wrapped",
          ]);
          assert.equal(r.stdout.trim(), "wrapped");
          const calls = await readFile(log, "utf8");
          for (const sub of ["create", "start", "delete"])
            assert.match(
              calls,
              new RegExp(`(^| )${sub} `, "m"),
              `runc ${sub} through the wrapper:\n${calls}`,
            );
        });
      }

      test("200000 lines of output arrive whole: exec and run, with and without a TTY", async () => {
        const id = `${short}-seq`;
        await run(["-d", image.ref, id, "sleep", "1000"]);
        const ctrCmd = `/usr/bin/ctr --address ${daemon.address} --namespace ${ns}`;
        for (const [label, cmd] of [
          ["exec -t", `${ctrCmd} tasks exec -t --exec-id seq-t ${id} sh -c 'seq 1 200000'`],
          ["exec", `${ctrCmd} tasks exec --exec-id seq ${id} sh -c 'seq 1 200000'`],
          [
            "run -t",
            `${ctrCmd} run -t --rm --runtime ${runtime} ${image.ref} ${short}-seq-t sh -c 'seq 1 200000'`,
          ],
          [
            "run",
            `${ctrCmd} run --rm --runtime ${runtime} ${image.ref} ${short}-seq-run sh -c 'seq 1 200000'`,
          ],
        ] as const) {
          // With -t, script(1) gives ctr the terminal it needs; its stdin stays open (a pipe),
          // as a user's would. Without -t ctr's output goes straight to a pipe: ctr writing
          // plain output to a terminal that script relays loses its tail now and then on
          // either shim (script stops reading once ctr has exited), which is not the
          // runtime's doing.
          const tty = label.endsWith("-t");
          const opts = { reject: false, timeout: 120_000, stdin: "pipe", maxBuffer: 64 << 20 } as const;
          const r = tty
            ? await execa("script", ["-qec", cmd, "/dev/null"], opts)
            : await execa("sh", ["-c", cmd], opts);
          assert.equal(r.exitCode, 0, `${label}: ${r.stdout.slice(0, 500)} ${r.stderr}`);
          const lines = r.stdout.split("\n").map((l) => l.replace(/\r/g, ""));
          if (lines.at(-1) === "") lines.pop();
          const wrong = lines.findIndex((l, i) => l !== String(i + 1));
          assert.equal(lines.length, 200_000, `${label}: ${lines.length} lines, the last ${lines.at(-1)}`);
          assert.equal(wrong, -1, `${label}: line ${wrong + 1} is ${JSON.stringify(lines[wrong])}`);
        }
        await ok(["tasks", "kill", "-s", "SIGKILL", id]);
        await waitFor(
          async () => tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS === "STOPPED",
          { timeoutMs: 15_000, what: `${id} stopped` },
        );
        await ok(["tasks", "rm", id]);
        await ok(["containers", "rm", id]);
      });

      test("bad input: unknown runtime, unknown task, exec on a missing task", async () => {
        const badRuntime = await c([
          "run",
          "--runtime",
          "io.containerd.nope.v9",
          "--rm",
          image.ref,
          `${short}-bad`,
          "true",
        ]);
        assert.notEqual(badRuntime.exitCode, 0);
        assert.match(badRuntime.stderr, /nope|not (found|installed)|no such file/i);
        await c(["containers", "rm", `${short}-bad`]);
        const missing = await c(["tasks", "kill", "no-such-task"]);
        assert.notEqual(missing.exitCode, 0);
        assert.match(missing.stderr, /not found/);
        const exec = await c(["tasks", "exec", "--exec-id", "x", "no-such-task", "true"]);
        assert.notEqual(exec.exitCode, 0);
      });

      if (kind === "berthd") {
        test("berthd killed with 20 containers running: all come back, one that exited reports its code", async () => {
          const ids = Array.from({ length: 20 }, (_, i) => `${short}-r${i}`);
          for (const id of ids.slice(0, 19)) await run(["-d", image.ref, id, "sleep", "1000"]);
          const quitter = ids[19]!;
          await run(["-d", image.ref, quitter, "sh", "-c", "sleep 2; exit 7"]);
          await daemon.kill();
          await new Promise((r) => setTimeout(r, 3000));
          await daemon.restart();
          const tasks = tasksByName((await ok(["tasks", "ls"])).stdout);
          const logTail = () =>
            readFileSync(daemon.logFile, "utf8")
              .split("\n")
              .filter((l) => /warn|error/.test(l))
              .slice(-8)
              .join("\n");
          for (const id of ids.slice(0, 19))
            assert.equal(tasks.get(id)?.STATUS, "RUNNING", `${id}; berthd said:\n${logTail()}`);
          await waitFor(
            async () => tasksByName((await ok(["tasks", "ls"])).stdout).get(quitter)?.STATUS === "STOPPED",
            { timeoutMs: 10_000, what: "quitter stopped" },
          );
          const rm = await c(["tasks", "rm", quitter]);
          assert.match(rm.stderr, /exit code 7/);
          assert.equal(
            (await ok(["tasks", "exec", "--exec-id", "after", ids[0]!, "echo", "alive"])).stdout.trim(),
            "alive",
          );
          for (const id of ids.slice(0, 19)) {
            await ok(["tasks", "kill", "-s", "SIGKILL", id]);
            await waitFor(
              async () => tasksByName((await ok(["tasks", "ls"])).stdout).get(id)?.STATUS === "STOPPED",
              { timeoutMs: 15_000, what: `${id} stopped` },
            );
            await ok(["tasks", "rm", id]);
          }
          for (const id of ids) await ok(["containers", "rm", id]);
        });

        // Berth's shim is started again and adopts its containers (shim-adoption.test.ts);
        // here the container is one it cannot adopt (its adoption record removed).
        test("a shim killed with SIGKILL: a task it cannot adopt is cleaned up, nothing leaks", async () => {
          const id = `${short}-doomed`;
          await run(["-d", image.ref, id, "sleep", "1000"]);
          const bundle = join(daemon.state, "io.containerd.runtime.v2.task", ns, id);
          await rm(join(bundle, "shim-init.json"), { force: true });
          const address = readFileSync(join(bundle, "address"), "utf8").trim().replace("unix://", "");
          const shimPid = (await execa("fuser", [address], { reject: false })).stdout.trim().split(/\s+/)[0];
          const { stdout: pgrep } = await execa("pgrep", ["-f", `-id ${id}`], { reject: false });
          const pid = Number(shimPid || pgrep.split("\n")[0]);
          assert.ok(pid > 0, "shim pid");
          process.kill(pid, "SIGKILL");
          await waitFor(async () => !tasksByName((await ok(["tasks", "ls"])).stdout).has(id), {
            timeoutMs: 20_000,
            what: "dead shim's task gone",
          });
          await waitFor(() => !existsSync(bundle), { timeoutMs: 10_000, what: "bundle removed" });
          const mounts = readFileSync("/proc/self/mountinfo", "utf8");
          assert.equal(mounts.includes(bundle), false, "rootfs still mounted");
          const runcList = await execa("runc", ["--root", `/run/containerd/runc/${ns}`, "list", "-q"], {
            reject: false,
          });
          const runcList2 = await execa("runc", ["--root", `/run/berth/runc/${ns}`, "list", "-q"], {
            reject: false,
          });
          assert.equal(
            `${runcList.stdout}\n${runcList2.stdout}`.split("\n").includes(id),
            false,
            "runc state left behind",
          );
          await ok(["containers", "rm", id]);
        });

        if (runtime === "io.containerd.berth.v2") {
          // Containers a new shim cannot adopt (a terminal's, whose pty died with the shim;
          // here: their adoption records removed) are cleaned up, side by side.
          test("a pooled shim killed with containers it cannot adopt: every task is cleaned up and reported", async (t) => {
            const group = `${short}-pool-${randomBytes(3).toString("hex")}`;
            const ids = Array.from({ length: 8 }, (_, i) => `${group}-${i}`);
            for (const id of ids) {
              await run([
                "-d",
                "--annotation",
                `io.containerd.runc.v2.group=${group}`,
                image.ref,
                id,
                "sleep",
                "1000",
              ]);
            }
            const addresses = new Set(
              ids.map((id) =>
                readFileSync(
                  join(daemon.state, "io.containerd.runtime.v2.task", ns, id, "address"),
                  "utf8",
                ).trim(),
              ),
            );
            assert.equal(addresses.size, 1, `one shim serves the group: ${[...addresses].join(", ")}`);
            const socket = [...addresses][0]?.replace("unix://", "") ?? "";
            for (const id of ids)
              await rm(join(daemon.state, "io.containerd.runtime.v2.task", ns, id, "shim-init.json"));
            const { stdout } = await execa("fuser", [socket], { reject: false });
            const pid = Number(stdout.trim().split(/\s+/)[0]);
            assert.ok(pid > 0, "shim pid");
            const events = spawn("/usr/bin/ctr", ["--address", daemon.address, "--namespace", ns, "events"]);
            let seen = "";
            events.stdout.on("data", (b: Buffer) => {
              seen += b.toString();
            });
            try {
              await new Promise((r) => setTimeout(r, 300));
              const killedAt = Date.now();
              process.kill(pid, "SIGKILL");
              await waitFor(
                async () => {
                  const tasks = tasksByName((await ok(["tasks", "ls"])).stdout);
                  return ids.every((id) => !tasks.has(id));
                },
                { timeoutMs: 30_000, intervalMs: 100, what: "the dead shim's tasks gone" },
              );
              t.diagnostic(`8 tasks of a killed shim cleaned up in ${Date.now() - killedAt} ms`);
              await waitFor(() => ids.every((id) => seen.includes(`"container_id":"${id}"`)), {
                timeoutMs: 10_000,
                what: "an exit event for every task",
              });
            } finally {
              events.kill();
            }
            const exits = seen.split("\n").filter((l) => l.includes("/tasks/exit"));
            for (const id of ids)
              assert.ok(
                exits.some((l) => l.includes(`"${id}"`)),
                `exit of ${id}: ${seen}`,
              );
            const mounts = readFileSync("/proc/self/mountinfo", "utf8");
            for (const id of ids) {
              assert.equal(
                existsSync(join(daemon.state, "io.containerd.runtime.v2.task", ns, id)),
                false,
                `${id} bundle`,
              );
              assert.equal(mounts.includes(`/${ns}/${id}/`), false, `${id} rootfs still mounted`);
            }
            const runcList = await execa("runc", ["--root", `/run/berth/runc/${ns}`, "list", "-q"], {
              reject: false,
            });
            for (const id of ids)
              assert.equal(runcList.stdout.split("\n").includes(id), false, `runc state of ${id}`);
            for (const id of ids) await ok(["containers", "rm", id]);
          });
        }
      }
    });
  }
}
