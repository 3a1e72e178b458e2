import assert from "node:assert/strict";
import { test } from "node:test";
import { REOPEN_LOG_ANNOTATION } from "../io/shim-log.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { reopenContainerLog } from "./reopen-container-log.js";

test("ReopenContainerLog asks Berth's shim, which writes the log, to reopen it", async (t) => {
  const h = await harness(t);
  const c = await h.runContainer(await h.runPod());
  await reopenContainerLog(h.cri, { containerId: c.meta.id });
  const [sent] = h.daemon.requestsOf<{ annotations: Record<string, string> }>("tasks.update");
  assert.deepEqual(sent?.annotations, { [REOPEN_LOG_ANNOTATION]: "1" });
});

test("only a running container with a log writer can reopen its log", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const created = await h.createContainer(pod, "idle");
  await rejectsWith(
    reopenContainerLog(h.cri, { containerId: created.meta.id }),
    "FailedPrecondition",
    /is not running: its log cannot be reopened/,
  );
  const c = await h.runContainer(pod, "app");
  h.process(c.meta.id).stdio.stdout = "";
  await rejectsWith(
    reopenContainerLog(h.cri, { containerId: c.meta.id }),
    "FailedPrecondition",
    /has no log writer/,
  );
  await rejectsWith(reopenContainerLog(h.cri, { containerId: "nope" }), "NotFound", /not found/);
});
