import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ContainerConfig } from "@berth/api/cri/runtime/v1/api";
import { KIND_CONTAINER, KIND_LABEL, decodeContainerStatus } from "../store/records.js";
import { containerState } from "../store/stores.js";
import { APP_IMAGE, harness, rejectsWith } from "../testing/harness.js";
import { createContainer } from "./create-container.js";
import { stopPodSandbox } from "./stop-pod-sandbox.js";

const signal = new AbortController().signal;

test("a created container has its record, spec, snapshot of the image, and no task yet", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod("web");
  const c = await h.createContainer(pod, "nginx", { labels: { tier: "front" }, logPath: "nginx/0.log" });
  assert.equal(containerState(c), "created");
  assert.equal(c.meta.sandboxId, pod.meta.id);
  assert.equal(c.meta.logPath, join(pod.meta.config.logDirectory, "nginx/0.log"));
  const record = h.daemon.records.get(c.meta.id);
  assert.ok(record);
  assert.equal(record.labels[KIND_LABEL], KIND_CONTAINER);
  assert.equal(record.labels.tier, "front");
  assert.equal(decodeContainerStatus(record).startedAt, 0n);
  const spec = JSON.parse(Buffer.from(record.spec?.value ?? []).toString());
  assert.deepEqual(spec.process.args, ["sh"], "the image's Cmd");
  const image = await h.images.resolve(APP_IMAGE);
  assert.equal(h.daemon.snapshotTable.get(c.meta.id)?.parent, image.chainId);
  assert.equal(h.daemon.taskTable.has(c.meta.id), false);
  assert.equal(h.daemon.leaseIds.size, 0);
});

test("bad requests fail with InvalidArgument, unknown pods and images with NotFound", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const podSandboxId = pod.meta.id;
  const sandboxConfig = pod.meta.config;
  const create = (config: ContainerConfig | undefined, id = podSandboxId) =>
    createContainer(h.cri, { podSandboxId: id, config, sandboxConfig }, signal);
  await rejectsWith(create(undefined), "InvalidArgument", /container config must not be empty/);
  await rejectsWith(create(ContainerConfig.fromPartial({})), "InvalidArgument", /must set metadata.name/);
  await rejectsWith(
    create(ContainerConfig.fromPartial({ metadata: { name: "x" } })),
    "InvalidArgument",
    /must name an image/,
  );
  const good = ContainerConfig.fromPartial({ metadata: { name: "x" }, image: { image: "absent:1" } });
  await rejectsWith(create(good, "nope"), "NotFound", /sandbox "nope" not found/);
  await rejectsWith(create(good), "NotFound", /image "absent:1" is not present: pull it first/);
  assert.equal(h.daemon.snapshotTable.has("x"), false);
  assert.equal((await h.createContainer(pod, "x")).meta.name.startsWith("x_"), true, "the name was released");
});

test("a second container of the same name in the pod is refused", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  const first = await h.createContainer(pod, "app");
  await rejectsWith(h.createContainer(pod, "app"), "AlreadyExists", new RegExp(first.meta.id));
});

test("no container is created in a pod that is not ready", async (t) => {
  const h = await harness(t);
  const pod = await h.runPod();
  await stopPodSandbox(h.cri, { podSandboxId: pod.meta.id });
  await rejectsWith(
    h.createContainer(pod),
    "FailedPrecondition",
    /is not ready: its containers cannot be created/,
  );
});
