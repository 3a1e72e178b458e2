import assert from "node:assert/strict";
import { test } from "node:test";
import { ContainerFilter, ContainerState } from "@berth/api/cri/runtime/v1/api";
import { harness } from "../testing/harness.js";
import { listContainers } from "./list-containers.js";

test("ListContainers filters by ID or prefix, pod, state and labels", async (t) => {
  const h = await harness(t);
  const { a, b, web, job: idle, other } = await h.twoPods();
  const ids = async (filter?: Parameters<typeof ContainerFilter.fromPartial>[0]) =>
    (await listContainers(h.cri, { filter: filter && ContainerFilter.fromPartial(filter) })).containers
      .map((c) => c.id)
      .sort();
  const sorted = (...xs: string[]) => xs.sort();
  assert.deepEqual(await ids(), sorted(web.meta.id, idle.meta.id, other.meta.id));
  assert.deepEqual(await ids({ id: web.meta.id.slice(0, 10) }), [web.meta.id]);
  assert.deepEqual(await ids({ podSandboxId: a.meta.id }), sorted(web.meta.id, idle.meta.id));
  assert.deepEqual(await ids({ podSandboxId: b.meta.id.slice(0, 7) }), [other.meta.id]);
  assert.deepEqual(await ids({ state: { state: ContainerState.CONTAINER_CREATED } }), [idle.meta.id]);
  assert.deepEqual(await ids({ labelSelector: { role: "batch" } }), [idle.meta.id]);
  assert.deepEqual(await ids({ labelSelector: { role: "none" } }), []);
  assert.deepEqual(await ids({ id: "zzz" }), []);
});
