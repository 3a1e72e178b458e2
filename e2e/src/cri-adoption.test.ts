// Through CRI, as kubelet sees it: 4 pods in one pooled Berth shim, each with a container
// logging a numbered line every 20 ms. The shim is killed with SIGKILL: every container
// stays RUNNING (asked every 100 ms, never another state), the same processes, and no line
// is missing from any CRI log. Then a container killed from outside is EXITED within 2 s,
// though no shim is its parent any more.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ContainerState, type PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { shimPids } from "./bench/measure.js";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient, removePodsQuietly } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir, waitFor } from "./fixtures/tmp.js";

/** The numbers of the CRI log's lines `<name> <n>` (F entries; the logger writes whole lines). */
function sequence(log: string, name: string): number[] {
  const out: number[] = [];
  for (const line of log.split("\n")) {
    const m = / stdout F (\S+) (\d+)$/.exec(line);
    if (m?.[1] === name) out.push(Number(m[2]));
  }
  return out;
}

function gaps(seq: number[]): Array<[number, number]> {
  const found: Array<[number, number]> = [];
  for (let i = 1; i < seq.length; i++) if (seq[i] !== seq[i - 1]! + 1) found.push([seq[i - 1]!, seq[i]!]);
  return found;
}

describe("CRI across the death of a pooled shim", { timeout: 300_000 }, () => {
  let registry: Registry;
  let image: PushedImage;
  let daemon: DaemonUnderTest;
  let network: TestNetwork;
  let cri: BerthCriUnderTest;
  let client: CriClient;
  let logs: string;
  const uid = `adopt-${process.pid}`;
  const podConfig = (name: string): PodSandboxConfig => ({
    metadata: { name, namespace: "adoption", uid: `${uid}-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: join(logs, name),
    dnsConfig: undefined,
    portMappings: [],
    labels: { test: uid },
    annotations: {},
    linux: undefined,
    windows: undefined,
  });

  before(async () => {
    registry = await startRegistry();
    image = await buildSimpleImage(registry.host, "berth/cri-adoption", "v1");
    const pauseRef = await pushPauseImage(image);
    daemon = await startBerthdDaemon();
    network = await createTestNetwork();
    logs = await tempDir("cri-adoption-logs-");
    cri = await startBerthCri({
      containerdAddress: daemon.address,
      runtime: "io.containerd.berth.v2",
      cniConfDir: network.confDir,
      sandboxImage: pauseRef,
      plainHttp: [registry.host],
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
    if (logs) await removeDir(logs);
  });

  async function runChatty(pod: string): Promise<string> {
    const { podSandboxId } = await client.runtime.runPodSandbox({
      config: podConfig(pod),
      runtimeHandler: "",
    });
    const { containerId } = await client.runtime.createContainer({
      podSandboxId,
      config: {
        metadata: { name: "app", attempt: 0 },
        image: { image: image.ref, annotations: {} },
        command: ["sh", "-c", `i=0; while true; do echo "${pod} $i"; i=$((i+1)); usleep 20000; done`],
        args: [],
        workingDir: "",
        envs: [],
        mounts: [],
        devices: [],
        labels: {},
        annotations: {},
        logPath: "app.log",
        stdin: false,
        stdinOnce: false,
        tty: false,
        linux: undefined,
        windows: undefined,
      },
      sandboxConfig: podConfig(pod),
    });
    await client.runtime.startContainer({ containerId });
    return containerId;
  }

  const status = async (id: string) =>
    (await client.runtime.containerStatus({ containerId: id, verbose: false })).status;

  test("SIGKILL of the shim: RUNNING throughout, same processes, no line lost; an outside kill is EXITED within 2 s", async (t) => {
    const pods = ["a", "b", "c", "d"];
    const ids = await Promise.all(pods.map(runChatty));
    const shims = shimPids(daemon.address);
    assert.equal(shims.length, 1, `one pooled shim serves the 4 pods: ${shims.join(" ")}`);
    const pidOf = async (id: string) => {
      const { info } = await client.runtime.containerStatus({ containerId: id, verbose: true });
      return (JSON.parse(info.info ?? "{}") as { pid?: number }).pid ?? 0;
    };
    const pids = await Promise.all(ids.map(pidOf));
    assert.ok(
      pids.every((p) => p > 0),
      `container pids: ${pids.join(" ")}`,
    );
    await new Promise((r) => setTimeout(r, 500));
    process.kill(shims[0]!, "SIGKILL");
    // Asked as kubelet's PLEG does, only more often: never anything but RUNNING.
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      for (const id of ids) {
        const s = await status(id);
        assert.equal(
          s?.state,
          ContainerState.CONTAINER_RUNNING,
          `${id}: state ${s?.state}, exit ${s?.exitCode}, ${s?.reason}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = shimPids(daemon.address);
    assert.equal(after.length, 1, `a new shim serves the pods: ${after.join(" ")}`);
    assert.notEqual(after[0], shims[0]);
    for (const [i, id] of ids.entries()) {
      assert.equal(await pidOf(id), pids[i], `${id} is the same process`);
      const seq = sequence(await readFile(join(logs, pods[i]!, "app.log"), "utf8"), pods[i]!);
      assert.equal(seq[0], 0);
      assert.deepEqual(gaps(seq), [], `${pods[i]}: lines missing from the CRI log`);
      assert.ok(seq.length > 100, `${pods[i]} logged on (${seq.length} lines)`);
    }
    // The adopted container is nobody's child of ours: its exit is still seen at once.
    const killedAt = Date.now();
    process.kill(pids[0]!, "SIGKILL");
    await waitFor(async () => (await status(ids[0]!))?.state === ContainerState.CONTAINER_EXITED, {
      timeoutMs: 2_000,
      intervalMs: 50,
      what: "the killed container EXITED",
    });
    const s = await status(ids[0]!);
    t.diagnostic(
      `EXITED ${Date.now() - killedAt} ms after the kill: exit code ${s?.exitCode}, reason ${s?.reason}`,
    );
    // 137 when the status could still be read from the zombie, else unknown.
    assert.ok(
      (s?.exitCode === 137 && s.reason === "Error") || (s?.exitCode === 255 && s.reason === "Unknown"),
      `exit code ${s?.exitCode}, reason ${s?.reason}`,
    );
    for (const id of ids.slice(1)) assert.equal((await status(id))?.state, ContainerState.CONTAINER_RUNNING);
    await removePodsQuietly(client);
    await waitFor(() => shimPids(daemon.address).length === 0, { timeoutMs: 20_000, what: "no shim left" });
  });
});
