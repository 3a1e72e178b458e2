// A real kubelet (v1.34, standalone: static pods, no API server) on berth-cri over berthd,
// and the same steps on containerd 1.6's own CRI: a two-container pod talking over
// localhost, liveness and readiness probes, a crashing container's back-off and kept log,
// log rotation through ReopenContainerLog with no line lost, /stats/summary, daemon
// restarts kubelet does not notice, and a removed manifest that leaves nothing behind.
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { copyFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { execa } from "execa";
import {
  type BenchImages,
  type CriRuntime,
  pushBenchImages,
  startBerthRuntime,
  startContainerdRuntime,
} from "./bench/cri-runtimes.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { cgroupsUnder } from "./fixtures/cgroups.js";
import { type KubeletUnderTest, startKubelet } from "./fixtures/kubelet.js";
import { peerTool } from "./fixtures/peers.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { sleep, waitFor } from "./fixtures/tmp.js";

const NAMESPACE = "kube-e2e";

interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  containerID?: string;
  state: { running?: { startedAt: string }; waiting?: { reason: string }; terminated?: { exitCode: number } };
}

interface Pod {
  metadata: { name: string; namespace: string; uid: string };
  status: {
    phase?: string;
    conditions?: Array<{ type: string; status: string }>;
    containerStatuses?: ContainerStatus[];
  };
}

interface CrictlPod {
  id: string;
  metadata: { name: string; namespace: string; uid: string };
  state: string;
  labels: Record<string, string>;
}

interface CrictlContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  state: string;
  labels: Record<string, string>;
}

function staticPod(name: string, containers: unknown[], extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NAMESPACE },
    spec: { restartPolicy: "Always", terminationGracePeriodSeconds: 2, containers, ...extra },
  });
}

/** The two-container pod: httpd on 8080, a client wget-ing it over localhost, with probes. */
function webPod(image: string): string {
  return staticPod("web", [
    {
      name: "server",
      image,
      command: [
        "sh",
        "-c",
        "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www",
      ],
      readinessProbe: { httpGet: { path: "/index.html", port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
    },
    {
      name: "client",
      image,
      command: [
        "sh",
        "-c",
        "while :; do wget -q -O /tmp/got http://127.0.0.1:8080/index.html && cat /tmp/got; sleep 1; done",
      ],
      // Fails once /tmp/fail exists: the restarted container's fresh rootfs has none.
      livenessProbe: {
        exec: { command: ["sh", "-c", "test ! -e /tmp/fail"] },
        periodSeconds: 1,
        failureThreshold: 1,
      },
    },
  ]);
}

function crashPod(image: string): string {
  return staticPod("crash", [
    { name: "crasher", image, command: ["sh", "-c", "echo crashing-attempt-$(date +%s); exit 3"] },
  ]);
}

const CHATTY_LINES = 1200;
/** 40 numbered lines of ~100 bytes a second (~4 KiB/s, over the 10 KiB limit every ~3 s), then idle. */
function chattyPod(image: string): string {
  const pad = "x".repeat(80);
  const script = `i=0; while [ $i -lt ${CHATTY_LINES} ]; do j=0; while [ $j -lt 40 ]; do i=$((i+1)); j=$((j+1)); echo "line $i ${pad}"; done; sleep 1; done; echo done; exec sleep 100000`;
  return staticPod("chatty", [{ name: "chatty", image, command: ["sh", "-c", script] }]);
}

async function crictl(socket: string, args: string[]): Promise<string> {
  // Both endpoints: a node's /etc/crictl.yaml (install.sh writes one) names another image endpoint.
  const endpoints = ["-r", `unix://${socket}`, "-i", `unix://${socket}`];
  const r = await execa(peerTool("crictl", "v1.37.0"), [...endpoints, "-t", "20s", ...args], {
    reject: false,
    timeout: 60_000,
  });
  if (r.exitCode !== 0) throw new Error(`crictl ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

async function crictlPods(socket: string): Promise<CrictlPod[]> {
  return (
    (JSON.parse(await crictl(socket, ["pods", "-o", "json"])) as { items: CrictlPod[] | null }).items ?? []
  );
}

async function crictlContainers(socket: string): Promise<CrictlContainer[]> {
  return (
    (JSON.parse(await crictl(socket, ["ps", "-a", "-o", "json"])) as { containers: CrictlContainer[] | null })
      .containers ?? []
  );
}

/** The lines of a CRI log file's records (`<time> <stream> <F|P> <text>`), text only. */
function logTexts(content: string): string[] {
  return content
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.split(" ").slice(3).join(" "));
}

let registry: Registry;
let images: BenchImages;

before(async () => {
  registry = await startRegistry();
  images = await pushBenchImages(registry.host, "kubelet");
});

after(async () => {
  await registry?.stop();
});

for (const stack of ["berth", "containerd"] as const) {
  describe(`kubelet ${stack === "berth" ? "on berth-cri over berthd" : "on containerd 1.6's CRI"}`, () => {
    let network: TestNetwork;
    let rt: CriRuntime;
    let socket: string;
    let kubelet: KubeletUnderTest;
    const node = `node-${stack}`;
    const podName = (name: string) => `${name}-${node}`;

    const pods = async () => (await kubelet.get<{ items: Pod[] | null }>("/pods")).items ?? [];
    const pod = async (name: string) => {
      const p = (await pods()).find((x) => x.metadata.name === podName(name));
      if (!p) throw new Error(`kubelet has no pod ${podName(name)}`);
      return p;
    };
    const status = async (name: string, container: string) => {
      const c = (await pod(name)).status.containerStatuses?.find((s) => s.name === container);
      if (!c) throw new Error(`pod ${name} has no status for ${container} yet`);
      return c;
    };
    const podSandbox = async (name: string) =>
      (await crictlPods(socket)).find(
        (p) => p.metadata.name === podName(name) && p.state === "SANDBOX_READY",
      );
    const uidOf = async (name: string) => (await pod(name)).metadata.uid;

    before(async () => {
      network = await createTestNetwork();
      if (stack === "berth") {
        rt = await startBerthRuntime({ name: "berth", network, images, registryHost: registry.host });
      } else {
        rt = await startContainerdRuntime(network, images, registry.host);
      }
      socket = rt.address;
      // Pod network stats come from the CRI (ListPodSandboxStats) with this gate: without it
      // kubelet asks cAdvisor, which finds no pod network on either runtime here.
      kubelet = await startKubelet({
        criSocket: socket,
        nodeName: node,
        config: { featureGates: { PodAndContainerStatsFromCRI: true } },
      });
    });

    after(async () => {
      if (kubelet) {
        for (const f of readdirSync(kubelet.manifestDir)) await rm(join(kubelet.manifestDir, f));
        await waitFor(async () => (await crictlPods(socket)).length === 0, {
          what: "kubelet to remove every pod",
          timeoutMs: 60_000,
          intervalMs: 500,
        }).catch(() => undefined);
        if (process.env.KEEP_KUBELET_LOG) {
          await writeFile(`/tmp/kubelet-${stack}.log`, await kubelet.log()).catch(() => undefined);
          for (const f of rt.logFiles())
            await copyFile(f, `/tmp/kubelet-${stack}-${basename(f)}`).catch(() => undefined);
        }
        await kubelet.stop();
      }
      await rt?.stop();
      await network?.cleanup();
    });

    test("a static pod of two containers talking over localhost runs, with kubelet's names and labels", async () => {
      await writeFile(join(kubelet.manifestDir, "web.json"), webPod(images.app));
      await waitFor(async () => (await pod("web")).status.phase === "Running", {
        what: "the web pod Running in kubelet's /pods",
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      const sandbox = await waitFor(() => podSandbox("web"), { what: "crictl pods to show the web pod" });
      assert.equal(sandbox.metadata.namespace, NAMESPACE);
      assert.equal(sandbox.labels["io.kubernetes.pod.name"], podName("web"));
      assert.equal(sandbox.labels["io.kubernetes.pod.namespace"], NAMESPACE);
      assert.equal(sandbox.labels["io.kubernetes.pod.uid"], await uidOf("web"));
      const containers = (await crictlContainers(socket)).filter((c) => c.podSandboxId === sandbox.id);
      assert.deepEqual(containers.map((c) => c.metadata.name).sort(), ["client", "server"]);
      for (const c of containers) {
        assert.equal(c.labels["io.kubernetes.container.name"], c.metadata.name);
        assert.equal(c.labels["io.kubernetes.pod.name"], podName("web"));
      }
      // The client's log shows what it fetched from the server over the pod's loopback.
      const logDir = join(kubelet.podLogsDir, `${NAMESPACE}_${podName("web")}_${await uidOf("web")}`);
      await waitFor(
        () => logTexts(readFileSync(join(logDir, "client", "0.log"), "utf8")).includes("hello-from-web"),
        { what: "the client container to log the server's page", timeoutMs: 30_000, intervalMs: 500 },
      );
    });

    test("an HTTP readiness probe makes the pod ready; a failing exec liveness probe restarts the container", async () => {
      await waitFor(
        async () =>
          (await status("web", "server")).ready &&
          (await pod("web")).status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        { what: "the web pod Ready in kubelet's /pods", timeoutMs: 30_000, intervalMs: 500 },
      );
      const sandbox = await waitFor(() => podSandbox("web"), { what: "the web sandbox" });
      const client = (await crictlContainers(socket)).find(
        (c) =>
          c.podSandboxId === sandbox.id && c.metadata.name === "client" && c.state === "CONTAINER_RUNNING",
      );
      assert.ok(client, "a running client container");
      assert.equal(client.metadata.attempt, 0);
      await crictl(socket, ["exec", client.id, "touch", "/tmp/fail"]);
      const restarted = await waitFor(
        async () =>
          (await crictlContainers(socket)).find(
            (c) =>
              c.podSandboxId === sandbox.id &&
              c.metadata.name === "client" &&
              c.metadata.attempt === 1 &&
              c.state === "CONTAINER_RUNNING",
          ),
        { what: "kubelet to start attempt 1 of the client container", timeoutMs: 60_000, intervalMs: 500 },
      );
      assert.notEqual(restarted.id, client.id);
      await waitFor(async () => (await status("web", "client")).restartCount === 1, {
        what: "restartCount 1 for the client in kubelet's /pods",
        timeoutMs: 30_000,
        intervalMs: 500,
      });
      assert.equal((await status("web", "server")).restartCount, 0);
    });

    test("a container that exits non-zero is restarted with back-off and its previous log is kept", async () => {
      await writeFile(join(kubelet.manifestDir, "crash.json"), crashPod(images.app));
      // When kubelet's /pods first showed each restart count.
      const seen = new Map<number, number>();
      await waitFor(
        async () => {
          const s = await status("crash", "crasher");
          if (!seen.has(s.restartCount)) seen.set(s.restartCount, Date.now());
          return s.restartCount >= 2;
        },
        { what: "two restarts of the crasher", timeoutMs: 90_000, intervalMs: 250 },
      );
      // kubelet's back-off: the first restart at once, the next after 10 s (doubling after).
      const gap = (seen.get(2) ?? 0) - (seen.get(1) ?? 0);
      assert.ok(seen.has(1) && gap >= 8_000, `restart 2 came ${gap} ms after restart 1: no back-off`);
      const s = await status("crash", "crasher");
      assert.ok(
        s.state.waiting?.reason === "CrashLoopBackOff" || s.state.running || s.state.terminated,
        "a state",
      );
      const dir = join(
        kubelet.podLogsDir,
        `${NAMESPACE}_${podName("crash")}_${await uidOf("crash")}`,
        "crasher",
      );
      // kubelet keeps the newest exited attempt (and its log) for `kubectl logs --previous`.
      const exited = (await crictlContainers(socket))
        .filter(
          (c) => c.labels["io.kubernetes.pod.name"] === podName("crash") && c.state === "CONTAINER_EXITED",
        )
        .sort((a, b) => b.metadata.attempt - a.metadata.attempt)[0];
      assert.ok(exited && exited.metadata.attempt >= 1, "an exited crasher container of a restarted attempt");
      const previous = logTexts(readFileSync(join(dir, `${exited.metadata.attempt}.log`), "utf8"));
      assert.equal(previous.length, 1, `${exited.metadata.attempt}.log: ${previous.join(" | ")}`);
      assert.match(previous[0] ?? "", /^crashing-attempt-\d+$/);
      assert.match(await crictl(socket, ["logs", exited.id]), /crashing-attempt-\d+/);
      await rm(join(kubelet.manifestDir, "crash.json"));
    });

    test("kubelet rotates a chatty container's log (ReopenContainerLog) and no kept line is lost", async () => {
      await writeFile(join(kubelet.manifestDir, "chatty.json"), chattyPod(images.app));
      const dir = await waitFor(
        async () =>
          join(kubelet.podLogsDir, `${NAMESPACE}_${podName("chatty")}_${await uidOf("chatty")}`, "chatty"),
        { what: "the chatty pod in kubelet", timeoutMs: 30_000 },
      );
      const seenRotated = new Set<string>();
      await waitFor(
        () => {
          for (const f of readdirSync(dir)) if (f !== "0.log") seenRotated.add(f);
          return logTexts(readFileSync(join(dir, "0.log"), "utf8")).includes("done");
        },
        { what: "the chatty container to finish writing", timeoutMs: 90_000, intervalMs: 500 },
      );
      assert.ok(seenRotated.size >= 2, `at least two rotations seen: ${[...seenRotated].join(", ")}`);
      // Kept: the current file, the newest rotated file, and compressed older ones up to
      // containerLogMaxFiles (3). Their union must be gapless up to the last line.
      const kept = readdirSync(dir);
      assert.ok(kept.length <= 3, `at most containerLogMaxFiles files: ${kept.join(", ")}`);
      assert.ok(kept.length >= 2, `a rotated file is kept: ${kept.join(", ")}`);
      const numbers = new Set<number>();
      for (const f of kept) {
        const raw = readFileSync(join(dir, f));
        for (const t of logTexts((f.endsWith(".gz") ? gunzipSync(raw) : raw).toString())) {
          const m = /^line (\d+) /.exec(t);
          if (m) numbers.add(Number(m[1]));
        }
      }
      const sorted = [...numbers].sort((a, b) => a - b);
      const lowest = sorted[0] ?? 0;
      assert.equal(sorted.at(-1), CHATTY_LINES, "the last line is kept");
      assert.ok(lowest < CHATTY_LINES - 100, `more than the current file is kept (from line ${lowest})`);
      const missing = Array.from({ length: CHATTY_LINES - lowest + 1 }, (_, i) => lowest + i).filter(
        (n) => !numbers.has(n),
      );
      assert.deepEqual(missing, [], `lines lost across rotations (kept ${lowest}..${CHATTY_LINES})`);
    });

    test("/stats/summary shows the pod's CPU, memory and network", async () => {
      interface Summary {
        node: { nodeName: string };
        pods: Array<{
          podRef: { name: string; namespace: string };
          cpu?: { usageCoreNanoSeconds?: number };
          memory?: { workingSetBytes?: number };
          network?: { name?: string; rxBytes?: number; txBytes?: number };
          containers?: Array<{ name: string; cpu?: { usageCoreNanoSeconds?: number } }>;
        }>;
      }
      const stats = await waitFor(
        async () => {
          const s = await kubelet.get<Summary>("/stats/summary");
          const p = s.pods.find((x) => x.podRef.name === podName("web"));
          if (!p) throw new Error(`no web pod in ${JSON.stringify(s.pods.map((x) => x.podRef))}`);
          // The pod's default interface, as kubelet reports it (name, rx/tx at the top level).
          const eth0 = p.network?.name === "eth0" ? p.network : undefined;
          if (!eth0) throw new Error(`no eth0 in the web pod's network stats: ${JSON.stringify(p.network)}`);
          return (p.cpu?.usageCoreNanoSeconds ?? 0) > 0 && (p.memory?.workingSetBytes ?? 0) > 0
            ? { summary: s, pod: p, eth0 }
            : undefined;
        },
        {
          what: "the web pod's CPU, memory and eth0 in /stats/summary",
          timeoutMs: 60_000,
          intervalMs: 1_000,
        },
      );
      assert.equal(stats.summary.node.nodeName, node);
      assert.ok((stats.eth0.rxBytes ?? 0) > 0, "eth0 received bytes (the readiness probes)");
      assert.ok((stats.eth0.txBytes ?? 0) > 0, "eth0 sent bytes (the probes' answers)");
      assert.deepEqual(stats.pod.containers?.map((c) => c.name).sort(), ["client", "server"]);
    });

    test("kubelet notices nothing when the runtime's daemons restart", async () => {
      const before = await pods();
      const counts = (list: Pod[]) =>
        list
          .flatMap((p) =>
            (p.status.containerStatuses ?? []).map((c) => `${p.metadata.name}/${c.name}=${c.restartCount}`),
          )
          .sort();
      const daemons = rt.daemons().map((d) => d.name);
      for (const daemon of daemons) {
        await rt.restart(daemon);
        // Two of kubelet's syncs (syncFrequency 5 s) and its PLEG relists happen meanwhile.
        await sleep(12_000);
        assert.equal(await kubelet.healthz(), "200 ok");
        const now = await pods();
        assert.deepEqual(counts(now), counts(before), `restart counts after ${daemon} restarted`);
        for (const p of now)
          assert.equal(p.status.phase, "Running", `${p.metadata.name} after ${daemon} restarted`);
        assert.ok((await status("web", "server")).ready, `web ready after ${daemon} restarted`);
      }
    });

    test("removing the manifests stops and removes the pods, leaving no netns, mount, shim or cgroup", async () => {
      const sandboxes = await crictlPods(socket);
      assert.ok(sandboxes.length > 0);
      const netns: string[] = [];
      for (const s of sandboxes) {
        const info = JSON.parse(await crictl(socket, ["inspectp", s.id])) as {
          info?: {
            netnsPath?: string;
            runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } };
          };
        };
        // containerd reports the runtime spec; berth-cri its netnsPath too.
        const path =
          info.info?.netnsPath ??
          info.info?.runtimeSpec?.linux?.namespaces?.find((n) => n.type === "network")?.path;
        if (path) netns.push(path);
      }
      assert.ok(netns.length > 0, "the sandboxes' network namespace paths (crictl inspectp)");
      const uids = sandboxes.map((s) => s.metadata.uid);
      assert.ok(rt.shimPids().length > 0);
      for (const f of readdirSync(kubelet.manifestDir)) await rm(join(kubelet.manifestDir, f));
      await waitFor(async () => (await crictlPods(socket)).length === 0 && (await pods()).length === 0, {
        what: "kubelet to remove every pod",
        timeoutMs: 60_000,
        intervalMs: 500,
      });
      assert.deepEqual(await crictlContainers(socket), []);
      await waitFor(() => rt.shimPids().length === 0, { what: "no shim left", timeoutMs: 20_000 });
      for (const p of netns) assert.ok(!existsSync(p), `network namespace ${p} is left`);
      const mounts = readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .filter((l) => sandboxes.some((s) => l.includes(s.id)) || netns.some((p) => l.includes(p)));
      assert.deepEqual(mounts, []);
      const left = uids.flatMap((uid) => cgroupsUnder(kubelet.cgroupRoot).filter((d) => d.includes(uid)));
      assert.deepEqual(left, [], "pod cgroups left");
    });
  });
}
