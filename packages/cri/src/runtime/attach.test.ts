import assert from "node:assert/strict";
import { test } from "node:test";
import type { AttachRequest } from "@berth/api/cri/runtime/v1/api";
import { harness, rejectsWith } from "../testing/harness.js";
import { attach } from "./attach.js";

const req = (r: Partial<AttachRequest>): AttachRequest => ({
  containerId: "",
  tty: false,
  stdin: false,
  stdout: true,
  stderr: true,
  ...r,
});

test("Attach to a running container returns a streaming URL for the full container ID", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  const { streaming } = h;
  const { url } = await attach(h.cri, streaming, req({ containerId: c.meta.id.slice(0, 6), stdin: true }));
  assert.match(url, /\/attach\/token1$/);
  assert.deepEqual(streaming.requests, [
    { kind: "attach", request: req({ containerId: c.meta.id, stdin: true }) },
  ]);
});

test("Attach refuses bad requests and containers that do not run", async (t) => {
  const h = await harness(t);
  const created = await h.createContainer(await h.runPod());
  const { streaming } = h;
  const id = created.meta.id;
  await rejectsWith(attach(h.cri, streaming, req({})), "InvalidArgument", /missing required container_id/);
  await rejectsWith(
    attach(h.cri, streaming, req({ containerId: id, tty: true })),
    "InvalidArgument",
    /tty and stderr cannot both be true/,
  );
  await rejectsWith(
    attach(h.cri, streaming, req({ containerId: id, stdout: false, stderr: false })),
    "InvalidArgument",
    /one of stdin, stdout, and stderr must be set/,
  );
  await rejectsWith(attach(h.cri, streaming, req({ containerId: "gone" })), "NotFound", /not found/);
  await rejectsWith(
    attach(h.cri, streaming, req({ containerId: id })),
    "FailedPrecondition",
    /CONTAINER_CREATED state: only a running container can be attached to/,
  );
});
