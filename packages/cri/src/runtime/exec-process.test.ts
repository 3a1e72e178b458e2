import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { harness } from "../testing/harness.js";
import { containerProcess, execProcessSpec, runExecProcess } from "./exec-process.js";

test("an exec's process is the container's with another argv; a terminal gets TERM once", () => {
  const base = { args: ["sh"], env: ["PATH=/bin"], cwd: "/work", terminal: false, user: { uid: 5, gid: 5 } };
  const plain = execProcessSpec(base, ["id"], false, { width: 80, height: 24 });
  assert.deepEqual(plain, { ...base, args: ["id"], env: ["PATH=/bin"], terminal: false });
  const tty = execProcessSpec(base, ["sh"], true, { width: 80, height: 24 });
  assert.deepEqual(tty.env, ["PATH=/bin", "TERM=xterm"]);
  assert.deepEqual(tty.consoleSize, { width: 80, height: 24 });
  assert.equal(tty.cwd, "/work");
  assert.deepEqual(execProcessSpec({ ...base, env: ["TERM=vt100"] }, ["sh"], true).env, ["TERM=vt100"]);
  assert.deepEqual(base.env, ["PATH=/bin"], "the container's spec is left as it was");
});

test("the process starts after its wait, its output arrives, then it and its FIFOs are deleted", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  h.daemon.execsWrite("out", "err", 7);
  const base = await containerProcess(h.cri, c.meta.id);
  assert.ok(base, "the container's spec has its process");
  const spec = execProcessSpec(base, ["ls"], false);
  const got = await runExecProcess(
    h.cri,
    { containerId: c.meta.id, spec, tty: false, stdin: false },
    async (p) => {
      const read = async (s: NodeJS.ReadableStream) => {
        let text = "";
        for await (const chunk of s) text += String(chunk);
        return text;
      };
      return { code: await p.exited, out: await read(p.stdout), err: p.stderr && (await read(p.stderr)) };
    },
  );
  assert.deepEqual(got, { code: 7, out: "out", err: "err" });
  const [exec] = h.daemon.requestsOf<{ spec: { value: Uint8Array } }>("tasks.exec");
  assert.deepEqual(JSON.parse(Buffer.from(exec?.spec.value ?? []).toString()).args, ["ls"]);
  const calls = h.daemon.calls.slice(h.daemon.calls.indexOf(`tasks.exec ${c.meta.id}`));
  assert.deepEqual(
    calls.map((x) => x.split(" ")[0]),
    ["tasks.exec", "tasks.wait", "tasks.start", "tasks.deleteProcess"],
  );
  assert.deepEqual(await readdir(join(h.cri.config.state, "exec")), []);
});

test("a failure while the process runs still deletes it and its FIFOs", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  const spec = execProcessSpec({ args: [], cwd: "/", user: { uid: 0, gid: 0 } }, ["sleep", "1d"], false);
  await assert.rejects(
    runExecProcess(h.cri, { containerId: c.meta.id, spec, tty: false, stdin: true }, async (p) => {
      assert.ok(p.stdin, "a stdin FIFO with our writer");
      throw new Error("the client broke");
    }),
    /the client broke/,
  );
  assert.equal(h.daemon.task(c.meta.id).execs.size, 0);
  assert.deepEqual(await readdir(join(h.cri.config.state, "exec")), []);
});
