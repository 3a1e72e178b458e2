import assert from "node:assert/strict";
import { test } from "node:test";
import { PodSandboxFilter, PodSandboxState } from "@berth/api/cri/runtime/v1/api";
import { harness } from "../testing/harness.js";
import { listPodSandbox } from "./list-pod-sandbox.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

test("ListPodSandbox filters by ID or prefix, state and labels", async (t) => {
  const h = await harness(t);
  const web = await h.runPod("web", { labels: { app: "web", env: "prod" } });
  const db = await h.runPod("db", { labels: { app: "db", env: "prod" } });
  await stopPodSandbox(h.cri, { podSandboxId: db.meta.id });
  const ids = async (filter?: Parameters<typeof PodSandboxFilter.fromPartial>[0]) =>
    (await listPodSandbox(h.cri, { filter: filter && PodSandboxFilter.fromPartial(filter) })).items
      .map((s) => s.id)
      .sort();
  assert.deepEqual(await ids(), [web.meta.id, db.meta.id].sort());
  assert.deepEqual(await ids({ id: db.meta.id.slice(0, 9) }), [db.meta.id]);
  assert.deepEqual(await ids({ state: { state: PodSandboxState.SANDBOX_READY } }), [web.meta.id]);
  assert.deepEqual(await ids({ state: { state: PodSandboxState.SANDBOX_NOTREADY } }), [db.meta.id]);
  assert.deepEqual(await ids({ labelSelector: { env: "prod" } }), [web.meta.id, db.meta.id].sort());
  assert.deepEqual(await ids({ labelSelector: { env: "prod", app: "web" } }), [web.meta.id]);
  assert.deepEqual(await ids({ id: "no-such" }), []);
});
