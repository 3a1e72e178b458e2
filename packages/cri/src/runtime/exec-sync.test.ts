import assert from "node:assert/strict";
import { test } from "node:test";
import { harness, rejectsWith } from "../testing/harness.js";
import { execSync } from "./exec-sync.js";

const signal = new AbortController().signal;
const request = (containerId: string, cmd: string[], timeout = 0n) => ({ containerId, cmd, timeout });

test("ExecSync returns stdout and stderr apart and the exit code", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  h.daemon.execsWrite("hello\n", "warning\n", 2);
  const r = await execSync(h.cri, request(c.meta.id, ["sh", "-c", "echo hello"]), signal);
  assert.equal(r.stdout.toString(), "hello\n");
  assert.equal(r.stderr.toString(), "warning\n");
  assert.equal(r.exitCode, 2);
});

test("ExecSync past its timeout kills the process and fails with DeadlineExceeded", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  await rejectsWith(
    execSync(h.cri, request(c.meta.id, ["sleep", "60"], 1n), signal),
    "DeadlineExceeded",
    /timeout 1s exceeded running \["sleep","60"\]/,
  );
  assert.ok(h.daemon.calls.some((x) => x === `tasks.kill ${c.meta.id} 9`));
  assert.equal(h.daemon.task(c.meta.id).execs.size, 0, "the killed process is deleted");
});

test("ExecSync checks the container and the command first", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const created = await h.createContainer(pod, "idle");
  await rejectsWith(
    execSync(h.cri, request("nope", ["ls"]), signal),
    "NotFound",
    /container "nope" not found/,
  );
  await rejectsWith(
    execSync(h.cri, request(created.meta.id, []), signal),
    "InvalidArgument",
    /must not be empty/,
  );
  await rejectsWith(
    execSync(h.cri, request(created.meta.id, ["ls"]), signal),
    "FailedPrecondition",
    /is not running: cannot exec in it/,
  );
});
