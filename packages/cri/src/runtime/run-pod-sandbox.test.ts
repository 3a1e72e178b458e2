import assert from "node:assert/strict";
import { test } from "node:test";
import { NamespaceMode, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { BerthError } from "@berth/client";
import { KIND_LABEL, KIND_SANDBOX } from "../store/records.js";
import { harness, rejectsWith } from "../testing/harness.js";
import { runPodSandbox } from "./run-pod-sandbox.js";

const signal = new AbortController().signal;

test("a pod gets a pinned namespace, an IP from CNI, its record and a started pause task", async (t) => {
  const h = await harness(t);
  const s = await h.runPod("web", { labels: { app: "web" } });
  assert.equal(s.state, "ready");
  assert.equal(s.pid, h.process(s.meta.id).pid);
  assert.equal(s.meta.ip, "10.88.0.2");
  assert.ok(h.netns.pinned.has(s.meta.netnsPath));
  const [add] = h.cni.calls;
  assert.equal(add?.op, "ADD");
  assert.equal(add?.attachment.args.K8S_POD_NAME, "web");
  assert.equal(add?.attachment.netns, s.meta.netnsPath);
  const record = h.daemon.records.get(s.meta.id);
  assert.equal(record?.labels[KIND_LABEL], KIND_SANDBOX);
  assert.equal(record?.labels.app, "web");
  const sandboxImage = await h.images.resolve(h.cri.config.sandboxImage);
  assert.equal(h.daemon.snapshotTable.get(s.meta.id)?.parent, sandboxImage.chainId);
  assert.equal(h.daemon.leaseIds.size, 0, "the lease is gone once the record holds the snapshot");
  assert.deepEqual(
    h.daemon.calls.filter((c) => c.startsWith("tasks.")),
    [`tasks.create ${s.meta.id}`, `tasks.start ${s.meta.id}`],
  );
});

test("a host-network pod has no namespace of its own and no CNI", async (t) => {
  const h = await harness(t);
  const s = await h.runPod("host", {
    linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE } } },
  });
  assert.equal(s.state, "ready");
  assert.equal(s.meta.netnsPath, "");
  assert.deepEqual(h.cni.calls, []);
});

test("bad requests fail with InvalidArgument saying what is missing", async (t) => {
  const h = await harness(t);
  await rejectsWith(
    runPodSandbox(h.cri, { config: undefined, runtimeHandler: "" }, signal),
    "InvalidArgument",
    /sandbox config must not be empty/,
  );
  await rejectsWith(
    runPodSandbox(h.cri, { config: PodSandboxConfig.fromPartial({}), runtimeHandler: "" }, signal),
    "InvalidArgument",
    /metadata name, namespace and uid/,
  );
  await rejectsWith(
    runPodSandbox(h.cri, { config: PodSandboxConfig.fromPartial({}), runtimeHandler: "gvisor" }, signal),
    "InvalidArgument",
    /no runtime for "gvisor" is configured: add it under containerd.runtimes/,
  );
  assert.deepEqual(h.daemon.calls, []);
});

test("a second pod of the same name is refused while the first one exists", async (t) => {
  const h = await harness(t);
  const s = await h.runPod("twice");
  await rejectsWith(h.runPod("twice"), "AlreadyExists", new RegExp(`reserved for "${s.meta.id}"`));
});

test("a failed CNI ADD undoes every step: namespace, CNI, and the name is free again", async (t) => {
  const h = await harness(t);
  h.cni.addFailure = new BerthError("Unknown", "plugin bridge failed");
  await rejectsWith(h.runPod("flaky"), "Unknown", /plugin bridge failed/);
  assert.equal(h.netns.pinned.size, 0);
  assert.deepEqual(
    h.cni.calls.map((c) => c.op),
    ["ADD", "DEL"],
  );
  assert.equal(h.daemon.records.size, 0);
  assert.equal(h.cri.sandboxes.list().length, 0);
  h.cni.addFailure = undefined;
  assert.equal((await h.runPod("flaky")).state, "ready");
});

test("a pause task that fails to start leaves no record, snapshot, task or files", async (t) => {
  const h = await harness(t);
  h.daemon.failures.set("tasks.start", new BerthError("Unknown", "runc create failed"));
  await rejectsWith(h.runPod("broken"), "Unknown", /runc create failed/);
  assert.equal(h.daemon.records.size, 0);
  assert.equal(h.daemon.snapshotTable.size, 0);
  assert.equal(h.daemon.taskTable.size, 0);
  assert.equal(h.podFiles.pods.size, 0);
  assert.equal(h.cri.sandboxes.list().length, 0);
});
