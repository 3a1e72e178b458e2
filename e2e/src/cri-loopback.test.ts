// A pod's loopback comes up whatever the CNI conflist holds: on a network of bridge,
// host-local and portmap only (no `loopback` plugin, as flannel's, calico's and cilium's
// conflists are), `lo` is UP with 127.0.0.1 and answers ping. berth-cri on berthd (Berth's
// shim) and on containerd 1.6 (runc's shim), and containerd's own CRI as the reference.
import assert from "node:assert/strict";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { type BenchImages, pushBenchImages, startContainerdRuntime } from "./bench/cri-runtimes.js";
import { startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { daemonKinds } from "./daemons.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir } from "./fixtures/tmp.js";

interface Stack {
  name: string;
  start(
    network: TestNetwork,
    images: BenchImages,
    registryHost: string,
  ): Promise<{
    client: CriClient;
    stop(): Promise<void>;
  }>;
}

const stacks: Stack[] = [
  ...daemonKinds.map(({ kind, start }) => ({
    name: `berth-cri on ${kind}`,
    async start(network: TestNetwork, images: BenchImages, registryHost: string) {
      const daemon = await start();
      const cri = await startBerthCri({
        containerdAddress: daemon.address,
        runtime: kind === "berthd" ? "io.containerd.berth.v2" : "io.containerd.runc.v2",
        cniConfDir: network.confDir,
        sandboxImage: images.pause,
        plainHttp: [registryHost],
      }).catch(async (err) => {
        await daemon.stop();
        throw err;
      });
      const client = criClient(cri.address);
      return {
        client,
        async stop() {
          client.close();
          await cri.remove();
          await daemon.stop();
        },
      };
    },
  })),
  {
    name: "containerd 1.6's CRI (reference)",
    async start(network: TestNetwork, images: BenchImages, registryHost: string) {
      return startContainerdRuntime(network, images, registryHost);
    },
  },
];

let registry: Registry;
let images: BenchImages;
before(async () => {
  registry = await startRegistry();
  images = await pushBenchImages(registry.host, "cri-loopback");
});
after(async () => {
  await registry?.stop();
});

for (const stack of stacks) {
  describe(`pod loopback without a CNI loopback plugin: ${stack.name}`, { timeout: 300_000 }, () => {
    let network: TestNetwork;
    let logDir: string;
    let running: { client: CriClient; stop(): Promise<void> } | undefined;
    let containerId = "";
    const podConfig = (): PodSandboxConfig => ({
      metadata: { name: "loopback", namespace: "e2e", uid: `uid-loopback-${process.pid}`, attempt: 0 },
      hostname: "loopback-pod",
      logDirectory: join(logDir, "pod"),
      dnsConfig: undefined,
      portMappings: [],
      labels: {},
      annotations: {},
      linux: undefined,
      windows: undefined,
    });

    before(async () => {
      network = await createTestNetwork({ loopback: false });
      logDir = await tempDir("cri-loopback-logs-");
      running = await stack.start(network, images, registry.host);
      const { client } = running;
      for (const image of [images.pause, images.app])
        await client.images.pullImage({ image: { image, annotations: {} } });
      const { podSandboxId } = await client.runtime.runPodSandbox({
        config: podConfig(),
        runtimeHandler: "",
      });
      containerId = (
        await client.runtime.createContainer({
          podSandboxId,
          config: {
            metadata: { name: "box", attempt: 0 },
            image: { image: images.app },
            command: ["sleep", "100000"],
            logPath: "box/0.log",
          },
          sandboxConfig: podConfig(),
        })
      ).containerId;
      await client.runtime.startContainer({ containerId });
    });

    after(async () => {
      if (running !== undefined) {
        const { items } = await running.client.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
        for (const p of items) {
          await running.client.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => undefined);
          await running.client.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
        }
        await running.stop();
      }
      await network?.cleanup();
      if (logDir !== undefined) await removeDir(logDir);
    });

    // The image's busybox has no ip or ping links: its applets are called by name.
    const run = async (cmd: string[]) => {
      const r = await running!.client.runtime.execSync({ containerId, cmd, timeout: 10n });
      return {
        exitCode: r.exitCode,
        out: Buffer.from(r.stdout).toString(),
        err: Buffer.from(r.stderr).toString(),
      };
    };

    test("the network's conflist has no loopback plugin", async () => {
      const files = await readdir(network.confDir);
      assert.ok(files.length > 0);
      for (const f of files) {
        const types = (
          JSON.parse(await readFile(join(network.confDir, f), "utf8")) as {
            plugins: Array<{ type: string }>;
          }
        ).plugins.map((p) => p.type);
        assert.deepEqual(types, ["bridge", "portmap"]);
      }
    });

    test("lo is UP with 127.0.0.1/8, and 127.0.0.1 answers ping", async () => {
      const addr = await run(["busybox", "ip", "addr", "show", "lo"]);
      assert.equal(addr.exitCode, 0, addr.err);
      assert.match(addr.out, /<LOOPBACK,UP,LOWER_UP>/, addr.out);
      assert.match(addr.out, /inet 127\.0\.0\.1\/8 /, addr.out);
      // A loopback that is up has no carrier state of its own: "unknown", never "down".
      const operstate = await run(["cat", "/sys/class/net/lo/operstate"]);
      assert.equal(operstate.out.trim(), "unknown");
      const ping = await run(["busybox", "ping", "-c1", "-W1", "127.0.0.1"]);
      assert.equal(ping.exitCode, 0, `ping 127.0.0.1: ${ping.out}${ping.err}`);
      assert.match(ping.out, /1 packets received/);
      // The pod's own address is there too: CNI ran after lo came up.
      const eth0 = await run(["busybox", "ip", "-4", "addr", "show", "eth0"]);
      assert.ok(eth0.out.includes(`inet ${network.prefix}`), eth0.out);
    });
  });
}
