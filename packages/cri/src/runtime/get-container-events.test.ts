import assert from "node:assert/strict";
import { test } from "node:test";
import { ContainerEventType } from "@berth/api/cri/runtime/v1/api";
import { harness } from "../testing/harness.js";
import { getContainerEvents } from "./get-container-events.js";
import { removeContainer } from "./remove-container.js";
import { stopContainer } from "./stop-container.js";

test("GetContainerEvents streams a container's life with its pod's status, until cancelled", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const cancel = new AbortController();
  const stream = getContainerEvents(h.cri, {}, cancel.signal);
  const first = stream.next(); // subscribes
  await new Promise((resolve) => setImmediate(resolve));
  const c = await h.runContainer(pod);
  await stopContainer(h.cri, { containerId: c.meta.id, timeout: 0n });
  await removeContainer(h.cri, { containerId: c.meta.id });
  const events = [(await first).value];
  for (let i = 0; i < 3; i++) events.push((await stream.next()).value);
  assert.deepEqual(
    events.map((e) => e?.containerEventType),
    [
      ContainerEventType.CONTAINER_CREATED_EVENT,
      ContainerEventType.CONTAINER_STARTED_EVENT,
      ContainerEventType.CONTAINER_STOPPED_EVENT,
      ContainerEventType.CONTAINER_DELETED_EVENT,
    ],
  );
  assert.ok(events.every((e) => e?.containerId === c.meta.id));
  assert.equal(events[1]?.podSandboxStatus?.id, pod.meta.id);
  assert.equal(events[1]?.containersStatuses[0]?.id, c.meta.id);
  cancel.abort();
  assert.equal((await stream.next()).done, true);
  assert.equal(h.cri.events.subscribers, 0);
});
