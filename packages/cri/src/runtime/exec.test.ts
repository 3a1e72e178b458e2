import assert from "node:assert/strict";
import { test } from "node:test";
import type { ExecRequest } from "@berth/api/cri/runtime/v1/api";
import { harness, rejectsWith } from "../testing/harness.js";
import { exec } from "./exec.js";

const req = (r: Partial<ExecRequest>): ExecRequest => ({
  containerId: "",
  cmd: ["sh"],
  tty: false,
  stdin: false,
  stdout: true,
  stderr: true,
  ...r,
});

test("Exec of a running container returns a streaming URL for the full container ID", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  const { streaming } = h;
  const { url } = await exec(
    h.cri,
    streaming,
    req({ containerId: c.meta.id.slice(0, 8), tty: true, stderr: false }),
  );
  assert.match(url, /\/exec\/token1$/);
  assert.deepEqual(streaming.requests, [
    { kind: "exec", request: req({ containerId: c.meta.id, tty: true, stderr: false }) },
  ]);
});

test("Exec refuses bad requests and containers that do not run", async (t) => {
  const h = await harness(t);
  const created = await h.createContainer(await h.runPod());
  const { streaming } = h;
  const id = created.meta.id;
  await rejectsWith(exec(h.cri, streaming, req({})), "InvalidArgument", /missing required container_id/);
  await rejectsWith(
    exec(h.cri, streaming, req({ containerId: id, cmd: [] })),
    "InvalidArgument",
    /must not be empty/,
  );
  await rejectsWith(
    exec(h.cri, streaming, req({ containerId: id, tty: true })),
    "InvalidArgument",
    /tty and stderr cannot both be true/,
  );
  await rejectsWith(
    exec(h.cri, streaming, req({ containerId: id, stdout: false, stderr: false })),
    "InvalidArgument",
    /one of stdin, stdout, or stderr must be set/,
  );
  await rejectsWith(
    exec(h.cri, streaming, req({ containerId: "gone" })),
    "NotFound",
    /container "gone" not found/,
  );
  await rejectsWith(exec(h.cri, streaming, req({ containerId: id })), "FailedPrecondition", /is not running/);
  assert.deepEqual(streaming.requests, []);
});
