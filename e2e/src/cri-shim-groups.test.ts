// berth-cri's shim.policy on berthd, counted in Berth shim processes: pooled with 3 pods
// per shim puts 4 pods in 2 shims (pods and containers created after a berth-cri restart
// find their pool again) and 9 in 3, also when started at once; per-pod gives each pod a
// shim; per-container each container. Removing every pod leaves no shim behind, and an
// emptied pool takes pods again at once.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { ContainerState, type PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { shimPids } from "./bench/measure.js";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient, removePodsQuietly } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { argvOf } from "./fixtures/proc.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { waitFor } from "./fixtures/tmp.js";

type ShimConfig = { policy: "per-pod" | "per-container" | "pooled"; poolSize?: number };

/** startBerthCri writes a fixed set of keys: add `shim` to its config file and restart it. */
async function setShimConfig(cri: BerthCriUnderTest, shim: ShimConfig): Promise<void> {
  const argv = await argvOf(cri.pid);
  const file = argv[argv.indexOf("--config") + 1];
  assert.ok(file, `no --config in berth-cri's command line: ${argv.join(" ")}`);
  const config = JSON.parse(await readFile(file, "utf8")) as Record<string, unknown>;
  await cri.stop();
  await writeFile(file, JSON.stringify({ ...config, shim }, null, 2));
  await cri.start();
}

let registry: Registry;
let image: PushedImage;
let pauseRef: string;
let daemon: DaemonUnderTest;
let network: TestNetwork;

before(async () => {
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/cri-shim-groups", "v1");
  pauseRef = await pushPauseImage(image);
  daemon = await startBerthdDaemon();
  network = await createTestNetwork();
});
after(async () => {
  await daemon?.stop();
  await network?.cleanup();
  await registry?.stop();
});

/** The Berth shims serving the test's berthd, once their number has settled on `n`. */
async function expectShims(n: number, what: string): Promise<void> {
  let seen: number[] = [];
  await waitFor(
    () => {
      seen = shimPids(daemon.address);
      return seen.length === n;
    },
    { what: `${n} shims (${what})`, timeoutMs: 20_000, intervalMs: 200 },
  ).catch(() => assert.fail(`${what}: ${seen.length} shim processes (${seen.join(" ")}), expected ${n}`));
  // Still n a moment later: no `start` on its way out counted, none about to exit.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(shimPids(daemon.address).length, n, what);
}

for (const shim of [
  { policy: "pooled", poolSize: 3 },
  { policy: "per-pod" },
  { policy: "per-container" },
] as const satisfies readonly ShimConfig[]) {
  describe(`shim.policy ${shim.policy}`, { timeout: 300_000 }, () => {
    let cri: BerthCriUnderTest;
    let client: CriClient;
    const uid = `${shim.policy}-${process.pid}`;
    const podConfig = (name: string): PodSandboxConfig => ({
      metadata: { name, namespace: "shim-groups", uid: `${uid}-${name}`, attempt: 0 },
      hostname: name,
      logDirectory: "",
      dnsConfig: undefined,
      portMappings: [],
      labels: { test: uid },
      annotations: {},
      linux: undefined,
      windows: undefined,
    });

    async function runPod(name: string): Promise<string> {
      const { podSandboxId } = await client.runtime.runPodSandbox({
        config: podConfig(name),
        runtimeHandler: "",
      });
      return podSandboxId;
    }

    async function runContainer(podSandboxId: string, pod: string, name: string): Promise<string> {
      const { containerId } = await client.runtime.createContainer({
        podSandboxId,
        config: {
          metadata: { name, attempt: 0 },
          image: { image: image.ref, annotations: {} },
          command: ["sleep", "100000"],
          args: [],
          workingDir: "",
          envs: [],
          mounts: [],
          devices: [],
          labels: {},
          annotations: {},
          logPath: "",
          stdin: false,
          stdinOnce: false,
          tty: false,
          linux: undefined,
          windows: undefined,
        },
        sandboxConfig: podConfig(pod),
      });
      await client.runtime.startContainer({ containerId });
      const st = await client.runtime.containerStatus({ containerId, verbose: false });
      assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
      return containerId;
    }

    before(async () => {
      cri = await startBerthCri({
        containerdAddress: daemon.address,
        runtime: "io.containerd.berth.v2",
        cniConfDir: network.confDir,
        sandboxImage: pauseRef,
        plainHttp: [registry.host],
      });
      await setShimConfig(cri, shim);
      client = criClient(cri.address);
      await client.images.pullImage({ image: { image: image.ref, annotations: {} } });
    });

    after(async () => {
      if (client !== undefined) {
        await removePodsQuietly(client);
        client.close();
      }
      await cri?.remove();
    });

    if (shim.policy === "pooled") {
      test("4 pods with poolSize 3 are served by 2 shims, also across a berth-cri restart", async () => {
        const first = await runPod("a");
        await runContainer(first, "a", "app");
        await runContainer(await runPod("b"), "b", "app");
        await expectShims(1, "2 pods in pool 0");
        // A restarted berth-cri reads the pools back from the sandbox records.
        await cri.stop();
        await cri.start();
        await runContainer(first, "a", "sidecar");
        await runContainer(await runPod("c"), "c", "app");
        await expectShims(1, "3 pods fill pool 0");
        await runContainer(await runPod("d"), "d", "app");
        await expectShims(2, "the 4th pod opens pool 1");
      });

      test("5 more pods at once: 2 join pool 1, 3 share a new shim", async () => {
        await Promise.all(
          ["e", "f", "g", "h", "i"].map(async (name) => runContainer(await runPod(name), name, "app")),
        );
        await expectShims(3, "9 pods in pools of 3");
      });
    } else if (shim.policy === "per-pod") {
      test("4 pods are served by 4 shims", async () => {
        for (const name of ["a", "b", "c", "d"]) await runContainer(await runPod(name), name, "app");
        await expectShims(4, "one shim per pod");
      });
    } else {
      test("one pod with 2 containers is served by 3 shims (pause + 2)", async () => {
        const pod = await runPod("a");
        await runContainer(pod, "a", "one");
        await runContainer(pod, "a", "two");
        await expectShims(3, "one shim per container");
      });
    }

    test("removing every pod leaves no shim", async () => {
      const pods = await client.runtime.listPodSandbox({});
      assert.ok(pods.items.length > 0);
      for (const p of pods.items) {
        await client.runtime.stopPodSandbox({ podSandboxId: p.id });
        await client.runtime.removePodSandbox({ podSandboxId: p.id });
      }
      await expectShims(0, "all pods removed");
    });

    if (shim.policy === "pooled") {
      test("pods right after: the emptied pool is opened again, under a new group key", async () => {
        await Promise.all(["j", "k"].map(async (name) => runContainer(await runPod(name), name, "app")));
        await expectShims(1, "2 pods in pool 0 again");
      });
    }
  });
}
