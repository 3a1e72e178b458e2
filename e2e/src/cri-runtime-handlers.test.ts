// RuntimeClass handlers (RunPodSandbox's runtimeHandler) through berth-cri on berthd, as
// containerd's CRI maps them with its `runtimes` table: the default handler runs Berth's
// shim, `runc` Debian's containerd-shim-runc-v2, a handler added in the config the runtime
// it names, and an unknown one is refused saying where to configure it. The pod's
// containers run on the pod's runtime, as berthd's records and the shim processes show.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ContainerConfig, ContainerState, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { Status } from "nice-grpc";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient, removePodsQuietly } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { ctrOk } from "./fixtures/ctr.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";

describe("RuntimeClass handlers through berth-cri", { timeout: 300_000 }, () => {
  let registry: Registry;
  let image: PushedImage;
  let daemon: DaemonUnderTest;
  let network: TestNetwork;
  let cri: BerthCriUnderTest;
  let client: CriClient;
  const uid = `handlers-${process.pid}`;
  const podConfig = (name: string): PodSandboxConfig =>
    PodSandboxConfig.fromPartial({
      metadata: { name, namespace: "handlers", uid: `${uid}-${name}`, attempt: 0 },
      hostname: name,
      labels: { test: uid },
    });

  before(async () => {
    registry = await startRegistry();
    image = await buildSimpleImage(registry.host, "berth/handlers", "v1");
    const pauseRef = await pushPauseImage(image);
    daemon = await startBerthdDaemon();
    network = await createTestNetwork();
    cri = await startBerthCri({
      containerdAddress: daemon.address,
      runtime: "io.containerd.berth.v2",
      cniConfDir: network.confDir,
      sandboxImage: pauseRef,
      plainHttp: [registry.host],
      // A handler of the operator's own, next to the built-in `runc` and `berth`.
      // (The fixture's config is replaced key by key: containerd's whole section is given.)
      config: {
        containerd: {
          address: daemon.address,
          namespace: "k8s.io",
          runtime: "io.containerd.berth.v2",
          runtimes: { "runc-too": { runtimeType: "io.containerd.runc.v2" } },
        },
      },
    });
    client = criClient(cri.address);
    await client.images.pullImage({ image: { image: image.ref, annotations: {} } });
  });

  after(async () => {
    if (client !== undefined) {
      await removePodsQuietly(client);
      client.close();
    }
    await cri?.remove();
    await daemon?.stop();
    await network?.cleanup();
    await registry?.stop();
  });

  /** The runtime berthd's record of `id` names, as ctr shows it. */
  async function recordedRuntime(id: string): Promise<string> {
    const { stdout } = await ctrOk(daemon.address, ["containers", "info", id], { namespace: "k8s.io" });
    return (JSON.parse(stdout) as { Runtime: { Name: string } }).Runtime.Name;
  }

  async function podWithContainer(name: string, runtimeHandler: string) {
    const config = podConfig(name);
    const { podSandboxId } = await client.runtime.runPodSandbox({ config, runtimeHandler });
    const { containerId } = await client.runtime.createContainer({
      podSandboxId,
      config: ContainerConfig.fromPartial({
        metadata: { name: "app", attempt: 0 },
        image: { image: image.ref, annotations: {} },
        command: ["sleep", "100000"],
      }),
      sandboxConfig: config,
    });
    await client.runtime.startContainer({ containerId });
    const st = await client.runtime.containerStatus({ containerId, verbose: true });
    assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
    const exec = await client.runtime.execSync({ containerId, cmd: ["echo", "up"], timeout: 10 });
    assert.equal(Buffer.from(exec.stdout).toString().trim(), "up");
    return { podSandboxId, containerId, info: JSON.parse(st.info.info ?? "{}") as { runtimeType?: string } };
  }

  for (const [handler, runtime] of [
    ["", "io.containerd.berth.v2"],
    ["runc", "io.containerd.runc.v2"],
    ["berth", "io.containerd.berth.v2"],
    ["runc-too", "io.containerd.runc.v2"],
  ] as const) {
    test(`handler ${JSON.stringify(handler)}: the pod and its container run on ${runtime}`, async () => {
      const { podSandboxId, containerId, info } = await podWithContainer(
        `pod-${handler || "default"}`,
        handler,
      );
      assert.equal(await recordedRuntime(podSandboxId), runtime, "the sandbox's record");
      assert.equal(await recordedRuntime(containerId), runtime, "the container's record");
      assert.equal(info.runtimeType, runtime, "ContainerStatus verbose info");
      const pod = await client.runtime.podSandboxStatus({ podSandboxId, verbose: true });
      assert.equal(pod.status?.runtimeHandler, handler);
      assert.equal((JSON.parse(pod.info.info ?? "{}") as { runtimeType?: string }).runtimeType, runtime);
      await client.runtime.stopPodSandbox({ podSandboxId });
      await client.runtime.removePodSandbox({ podSandboxId });
    });
  }

  test("an unknown handler is InvalidArgument, naming the config key and the handlers there are", async () => {
    await assert.rejects(
      client.runtime.runPodSandbox({ config: podConfig("pod-kata"), runtimeHandler: "kata" }),
      (err: { code?: number; details?: string }) => {
        assert.equal(err.code, Status.INVALID_ARGUMENT);
        assert.match(
          err.details ?? "",
          /no runtime for "kata" is configured: add it under containerd\.runtimes/,
        );
        assert.match(err.details ?? "", /"runc-too"/);
        return true;
      },
    );
    const { items } = await client.runtime.listPodSandbox({});
    assert.equal(
      items.some((p) => p.metadata?.name === "pod-kata"),
      false,
      "no sandbox is left of the refused call",
    );
  });
});
