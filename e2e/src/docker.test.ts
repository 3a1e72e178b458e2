// Debian's Docker Engine 20.10 (dockerd with `--containerd`) on berthd and on containerd
// 1.6, the same steps on each: pull from a local registry, run --rm with its output and
// exit code (no hang), detached containers in `docker ps`, exec, logs, stop (SIGTERM, then
// SIGKILL after the timeout), kill, pause, top, stats, update, wait, stdin, a TTY, an OOM
// kill, a restart policy, a container that outlives a SIGKILLed and restarted daemon, and
// one that outlives a restarted dockerd (--live-restore). Then Docker (namespace moby) and
// berth-cri (k8s.io) share one daemon without seeing each other's containers or images.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ContainerConfig, ContainerState, PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { ctr, ctrOk, parseTable } from "./fixtures/ctr.js";
import { type Dockerd, startDockerd } from "./fixtures/dockerd.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, tempDir, waitFor } from "./fixtures/tmp.js";

/** A docker command that hangs fails its test after this long. */
const DOCKER_TIMEOUT_MS = 30_000;
/** Bound of each test; a hang fails the test, not the suite. */
const TEST_TIMEOUT_MS = 120_000;

let registry: Registry;
let image: PushedImage;
before(async () => {
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/docker", "v1");
});
after(async () => {
  await registry?.stop();
});

async function inspect(d: Dockerd, name: string, format: string): Promise<string> {
  return (
    await d.dockerOk(["inspect", "--format", format, name], { timeoutMs: DOCKER_TIMEOUT_MS })
  ).stdout.trim();
}

async function waitStatus(d: Dockerd, name: string, status: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(async () => (await inspect(d, name, "{{.State.Status}}")) === status, {
    timeoutMs,
    intervalMs: 200,
    what: `${name} to be ${status}`,
  });
}

/** `docker ps` rows of this daemon's containers, by name. */
async function psByName(d: Dockerd, all = false): Promise<Map<string, string>> {
  const r = await d.dockerOk(["ps", ...(all ? ["-a"] : []), "--format", "{{.Names}}\t{{.Status}}"], {
    timeoutMs: DOCKER_TIMEOUT_MS,
  });
  return new Map(
    r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split("\t") as [string, string]),
  );
}

for (const { kind, start } of daemonKinds) {
  describe(`Docker Engine on ${kind}`, { timeout: 900_000 }, () => {
    let daemon: DaemonUnderTest;
    let dockerd: Dockerd;
    const docker = (args: string[], timeoutMs = DOCKER_TIMEOUT_MS) => dockerd.docker(args, { timeoutMs });
    const dockerOk = (args: string[], timeoutMs = DOCKER_TIMEOUT_MS) => dockerd.dockerOk(args, { timeoutMs });
    const run = (args: string[], timeoutMs = DOCKER_TIMEOUT_MS) =>
      docker(["run", "--network", "none", ...args], timeoutMs);

    before(async () => {
      daemon = await start();
      dockerd = await startDockerd({
        containerd: daemon.address,
        insecureRegistries: [registry.host],
        liveRestore: true,
      });
      await dockerOk(["pull", image.ref], 120_000);
    });
    after(async () => {
      await dockerd?.stop();
      await daemon?.stop();
    });

    test(
      "docker run --rm prints the output and returns the exit code, without hanging",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const hi = await run(["--rm", image.ref, "echo", "hi"]);
        assert.equal(hi.timedOut, false, "docker run --rm hung");
        assert.equal(hi.exitCode, 0, hi.stderr);
        assert.equal(hi.stdout, "hi\n");
        const three = await run(["--rm", image.ref, "sh", "-c", "echo err >&2; exit 3"]);
        assert.equal(three.timedOut, false, "docker run --rm hung");
        assert.equal(three.exitCode, 3, three.stderr);
        assert.match(three.stderr, /err/);
        const left = await psByName(dockerd, true);
        assert.equal(left.size, 0, `--rm containers left: ${[...left.keys()]}`);
      },
    );

    test(
      "docker run -d: Up in docker ps; exec's output and exit code; logs",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const r = await run([
          "-d",
          "--name",
          "web",
          image.ref,
          "sh",
          "-c",
          "echo out; echo err >&2; exec sleep 1000",
        ]);
        assert.equal(r.exitCode, 0, r.stderr);
        const id = r.stdout.trim();
        assert.match(id, /^[0-9a-f]{64}$/);
        assert.match((await psByName(dockerd)).get("web") ?? "", /^Up /);
        assert.equal(await inspect(dockerd, "web", "{{.State.Running}}"), "true");
        const pid = Number(await inspect(dockerd, "web", "{{.State.Pid}}"));
        assert.ok(pid > 0, `State.Pid ${pid}`);

        const ex = await docker(["exec", "web", "sh", "-c", "echo from-exec; id -u; exit 4"]);
        assert.equal(ex.timedOut, false, "docker exec hung");
        assert.equal(ex.exitCode, 4, ex.stderr);
        assert.equal(ex.stdout, "from-exec\n0\n");
        const exOk = await dockerOk(["exec", "web", "cat", "/proc/1/cmdline"]);
        assert.equal(exOk.stdout, "sleep\u00001000\u0000");

        await waitFor(async () => (await docker(["logs", "web"])).stdout === "out\n", {
          timeoutMs: 10_000,
          what: "web's stdout in docker logs",
        });
        const logs = await dockerOk(["logs", "web"]);
        assert.equal(logs.stdout, "out\n");
        assert.equal(logs.stderr, "err\n");
      },
    );

    test("docker stop: SIGTERM first, SIGKILL after the timeout", { timeout: TEST_TIMEOUT_MS }, async () => {
      // sleep as PID 1 has no handler, so SIGTERM does nothing: stop must kill it after -t.
      await dockerOk(["run", "-d", "--network", "none", "--name", "deaf", image.ref, "sleep", "1000"]);
      let t0 = Date.now();
      const stop = await docker(["stop", "-t", "2", "deaf"]);
      let took = Date.now() - t0;
      assert.equal(stop.exitCode, 0, stop.stderr);
      assert.ok(took >= 1_900 && took < 15_000, `docker stop -t 2 took ${took} ms`);
      assert.equal(await inspect(dockerd, "deaf", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");

      // A process that exits on SIGTERM is stopped by it, long before the timeout.
      await dockerOk([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "polite",
        image.ref,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 0.1; done",
      ]);
      t0 = Date.now();
      const stop2 = await docker(["stop", "-t", "20", "polite"]);
      took = Date.now() - t0;
      assert.equal(stop2.exitCode, 0, stop2.stderr);
      assert.ok(took < 10_000, `docker stop of a SIGTERM-handling container took ${took} ms`);
      assert.equal(await inspect(dockerd, "polite", "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");

      // A stopped container starts again.
      await dockerOk(["start", "polite"]);
      assert.equal(await inspect(dockerd, "polite", "{{.State.Running}}"), "true");
      await dockerOk(["stop", "-t", "20", "polite"]);
      await dockerOk(["rm", "deaf", "polite"]);
    });

    test("docker kill", { timeout: TEST_TIMEOUT_MS }, async () => {
      await dockerOk(["run", "-d", "--network", "none", "--name", "victim", image.ref, "sleep", "1000"]);
      const k = await docker(["kill", "victim"]);
      assert.equal(k.exitCode, 0, k.stderr);
      await waitStatus(dockerd, "victim", "exited", 15_000);
      assert.equal(await inspect(dockerd, "victim", "{{.State.ExitCode}}"), "137");
      // A signal the process handles: it reports it and exits with its own code.
      await dockerOk([
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "usr1",
        image.ref,
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 7' USR1; while true; do sleep 0.1; done",
      ]);
      await dockerOk(["kill", "--signal", "USR1", "usr1"]);
      await waitStatus(dockerd, "usr1", "exited", 15_000);
      assert.equal(await inspect(dockerd, "usr1", "{{.State.ExitCode}}"), "7");
      assert.equal((await dockerOk(["logs", "usr1"])).stdout, "got-usr1\n");
      const again = await docker(["kill", "victim"]);
      assert.notEqual(again.exitCode, 0, "killing a stopped container is refused");
      assert.match(again.stderr, /is not running/);
      await dockerOk(["rm", "victim", "usr1"]);
    });

    test(
      "pause and unpause, top, stats, update, wait, stdin, a TTY, an OOM kill",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        await dockerOk([
          "run",
          "-d",
          "--network",
          "none",
          "--name",
          "busy",
          "--memory",
          "64m",
          image.ref,
          "sleep",
          "1000",
        ]);
        await dockerOk(["pause", "busy"]);
        assert.match((await psByName(dockerd)).get("busy") ?? "", /\(Paused\)$/);
        assert.equal(await inspect(dockerd, "busy", "{{.State.Status}}"), "paused");
        await dockerOk(["unpause", "busy"]);
        assert.equal(await inspect(dockerd, "busy", "{{.State.Status}}"), "running");
        const top = await dockerOk(["top", "busy"]);
        assert.match(top.stdout, /sleep 1000/);
        const stats = await dockerOk(["stats", "--no-stream", "--format", "{{.MemUsage}}|{{.PIDs}}", "busy"]);
        assert.match(stats.stdout.trim(), /^[\d.]+[KMG]?i?B \/ 64MiB\|1$/);
        await dockerOk(["update", "--memory", "128m", "--memory-swap", "256m", "busy"]);
        assert.equal(await inspect(dockerd, "busy", "{{.HostConfig.Memory}}"), String(128 * 1024 * 1024));
        const stats2 = await dockerOk(["stats", "--no-stream", "--format", "{{.MemUsage}}", "busy"]);
        assert.match(stats2.stdout.trim(), / \/ 128MiB$/, "the new limit reached the container's cgroup");

        const stdin = await dockerd.docker(["exec", "-i", "busy", "wc", "-c"], {
          timeoutMs: DOCKER_TIMEOUT_MS,
          input: "abcde",
        });
        assert.equal(stdin.exitCode, 0, stdin.stderr);
        assert.equal(stdin.stdout.trim(), "5");
        const runIn = await dockerd.docker(["run", "--rm", "-i", "--network", "none", image.ref, "cat"], {
          timeoutMs: DOCKER_TIMEOUT_MS,
          input: "through stdin\n",
        });
        assert.equal(runIn.exitCode, 0, runIn.stderr);
        assert.equal(runIn.stdout, "through stdin\n");
        const tty = await docker(["exec", "-t", "busy", "sh", "-c", "tty; exit 2"]);
        assert.equal(tty.exitCode, 2, tty.stderr);
        assert.match(tty.stdout, /^\/dev\/pts\/\d+\r\n$/);

        await dockerOk([
          "run",
          "-d",
          "--network",
          "none",
          "--name",
          "short",
          image.ref,
          "sh",
          "-c",
          "sleep 1; exit 5",
        ]);
        const wait = await dockerOk(["wait", "short"]);
        assert.equal(wait.stdout.trim(), "5");

        const startedAt = Date.now();
        const oom = await run([
          "--name",
          "hog",
          "--memory",
          "8m",
          "--memory-swap",
          "8m",
          image.ref,
          "sh",
          "-c",
          "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}",
        ]);
        assert.equal(oom.exitCode, 137, `${oom.stdout} ${oom.stderr}`);
        // The daemon's /tasks/oom event reached dockerd. (State.OOMKilled is only set when it
        // comes before /tasks/exit, which runc's shim does not promise: its OOM watcher and
        // its reaper race.)
        const events = await dockerOk([
          "events",
          "--since",
          String(Math.floor(startedAt / 1000) - 1),
          "--until",
          String(Math.ceil(Date.now() / 1000) + 1),
          "--filter",
          "container=hog",
          "--filter",
          "event=oom",
          "--format",
          "{{.Action}} {{.Actor.Attributes.name}}",
        ]);
        // The kernel may report more than one OOM kill in the cgroup.
        assert.match(events.stdout, /^(oom hog\n)+$/);
        await dockerOk(["rm", "-f", "busy", "short", "hog"]);
      },
    );

    test(
      "--restart=on-failure:2 restarts a failing container twice",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        await dockerOk([
          "run",
          "-d",
          "--network",
          "none",
          "--name",
          "flaky",
          "--restart=on-failure:2",
          image.ref,
          "sh",
          "-c",
          "echo attempt; exit 1",
        ]);
        await waitFor(
          async () => (await inspect(dockerd, "flaky", "{{.RestartCount}} {{.State.Status}}")) === "2 exited",
          { timeoutMs: 30_000, intervalMs: 200, what: "flaky restarted twice, then exited" },
        );
        assert.equal(await inspect(dockerd, "flaky", "{{.State.ExitCode}}"), "1");
        assert.equal((await dockerOk(["logs", "flaky"])).stdout, "attempt\nattempt\nattempt\n");
        await dockerOk(["rm", "flaky"]);
      },
    );

    test(
      `a running container stays Up across a SIGKILLed and restarted ${kind}, and can be stopped`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        await dockerOk(["run", "-d", "--network", "none", "--name", "survivor", image.ref, "sleep", "1000"]);
        const pid = Number(await inspect(dockerd, "survivor", "{{.State.Pid}}"));
        await daemon.kill();
        await daemon.restart();
        assert.equal(daemon.address, dockerd.containerd, "the daemon serves on the socket dockerd was given");
        assert.match((await psByName(dockerd)).get("survivor") ?? "", /^Up /);
        assert.equal(await inspect(dockerd, "survivor", "{{.State.Pid}}"), String(pid));
        // dockerd reaches the restarted daemon again (its connection retries).
        await waitFor(
          async () => (await docker(["exec", "survivor", "echo", "alive"])).stdout === "alive\n",
          {
            timeoutMs: 30_000,
            intervalMs: 500,
            what: `docker exec through the restarted ${kind}`,
          },
        );
        const t0 = Date.now();
        const stop = await docker(["stop", "-t", "1", "survivor"]);
        const took = Date.now() - t0;
        assert.equal(stop.exitCode, 0, stop.stderr);
        assert.ok(took < 15_000, `docker stop after the restart took ${took} ms`);
        assert.equal(
          await inspect(dockerd, "survivor", "{{.State.Status}} {{.State.ExitCode}}"),
          "exited 137",
        );
        // And a new container still runs to completion.
        const hi = await run(["--rm", image.ref, "echo", "after-restart"]);
        assert.equal(hi.exitCode, 0, hi.stderr);
        assert.equal(hi.stdout, "after-restart\n");
        await dockerOk(["rm", "survivor"]);
      },
    );
    test(
      "dockerd restarted with --live-restore finds its running container again",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        await dockerOk([
          "run",
          "-d",
          "--network",
          "none",
          "--name",
          "keeper",
          image.ref,
          "sh",
          "-c",
          "echo before; trap 'exit 0' TERM; while true; do if [ -e /tmp/go ]; then echo after; rm /tmp/go; fi; sleep 0.1; done",
        ]);
        const pid = await inspect(dockerd, "keeper", "{{.State.Pid}}");
        await waitFor(async () => (await docker(["logs", "keeper"])).stdout === "before\n", {
          timeoutMs: 10_000,
          what: "keeper's first line in docker logs",
        });
        await dockerd.restart();
        assert.match((await psByName(dockerd)).get("keeper") ?? "", /^Up /);
        assert.equal(
          await inspect(dockerd, "keeper", "{{.State.Pid}}"),
          pid,
          "the same process, not a new one",
        );
        await dockerOk(["exec", "keeper", "touch", "/tmp/go"]);
        // The restarted dockerd reads the container's output again.
        await waitFor(async () => (await docker(["logs", "keeper"])).stdout === "before\nafter\n", {
          timeoutMs: 10_000,
          what: "keeper's output after the restart in docker logs",
        });
        const t0 = Date.now();
        await dockerOk(["stop", "-t", "20", "keeper"]);
        assert.ok(Date.now() - t0 < 10_000, `docker stop took ${Date.now() - t0} ms`);
        assert.equal(await inspect(dockerd, "keeper", "{{.State.Status}} {{.State.ExitCode}}"), "exited 0");
        await dockerOk(["rm", "keeper"]);
      },
    );
  });
}

for (const { kind, start } of daemonKinds) {
  // containerd finds only shims on its PATH: there the runc shim runs berth-cri's containers.
  const runtime = kind === "berthd" ? "io.containerd.berth.v2" : "io.containerd.runc.v2";
  describe(`Docker (moby) and berth-cri (k8s.io) on one ${kind}`, { timeout: 600_000 }, () => {
    let daemon: DaemonUnderTest;
    let dockerd: Dockerd;
    let network: TestNetwork;
    let cri: BerthCriUnderTest;
    let client: CriClient;
    let logDir: string;
    let pauseRef: string;
    let criImage: PushedImage;
    const dockerOk = (args: string[], timeoutMs = DOCKER_TIMEOUT_MS) => dockerd.dockerOk(args, { timeoutMs });
    const nsList = async (ns: string, what: "containers" | "images") =>
      parseTable((await ctrOk(daemon.address, [what, "ls"], { namespace: ns, timeoutMs: 30_000 })).stdout);

    before(async () => {
      criImage = await buildSimpleImage(registry.host, "berth/cri-side", "v1");
      pauseRef = await pushPauseImage(criImage);
      daemon = await start();
      network = await createTestNetwork();
      logDir = await tempDir("docker-cri-logs-");
      dockerd = await startDockerd({ containerd: daemon.address, insecureRegistries: [registry.host] });
      cri = await startBerthCri({
        containerdAddress: daemon.address,
        runtime,
        cniConfDir: network.confDir,
        sandboxImage: pauseRef,
        plainHttp: [registry.host],
      });
      client = criClient(cri.address);
    });
    after(async () => {
      if (client !== undefined) {
        const pods = await client.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
        for (const p of pods.items) {
          await client.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => undefined);
          await client.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
        }
        client.close();
      }
      await cri?.remove();
      await dockerd?.stop();
      await daemon?.stop();
      await network?.cleanup();
      if (logDir !== undefined) await removeDir(logDir);
    });

    test(
      "each side sees only its own containers and images; stopping one leaves the other running",
      { timeout: 300_000 },
      async () => {
        await dockerOk(["pull", image.ref], 120_000);
        await dockerOk(["run", "-d", "--network", "none", "--name", "dock", image.ref, "sleep", "1000"]);
        const dockId = (await dockerOk(["inspect", "--format", "{{.Id}}", "dock"])).stdout.trim();

        await client.images.pullImage({ image: { image: criImage.ref, annotations: {} } });
        const podConfig = PodSandboxConfig.fromPartial({
          metadata: { name: "side", namespace: "e2e", uid: `side-${kind}-${process.pid}`, attempt: 0 },
          hostname: "side",
          logDirectory: logDir,
        });
        const { podSandboxId } = await client.runtime.runPodSandbox({
          config: podConfig,
          runtimeHandler: "",
        });
        const { containerId } = await client.runtime.createContainer({
          podSandboxId,
          config: ContainerConfig.fromPartial({
            metadata: { name: "app", attempt: 0 },
            image: { image: criImage.ref },
            command: ["sleep", "1000"],
            logPath: "app.log",
          }),
          sandboxConfig: podConfig,
        });
        await client.runtime.startContainer({ containerId });

        // docker ps -a shows only docker's container.
        const dockerAll = (await dockerOk(["ps", "-a", "--no-trunc", "--format", "{{.ID}}"])).stdout
          .split("\n")
          .filter(Boolean);
        assert.deepEqual(dockerAll, [dockId]);
        // CRI lists only its own.
        const criContainers = (await client.runtime.listContainers({})).containers.map((c) => c.id);
        assert.deepEqual(criContainers, [containerId]);
        // containerd namespaces split the same way.
        const mobyIds = (await nsList("moby", "containers")).map((r) => r.CONTAINER);
        const k8sIds = (await nsList("k8s.io", "containers")).map((r) => r.CONTAINER).sort();
        assert.deepEqual(mobyIds, [dockId]);
        assert.deepEqual(k8sIds, [containerId, podSandboxId].sort());

        // Images: CRI does not list docker's pull; docker does not list CRI's.
        const criImages = (await client.images.listImages({})).images.flatMap((i) => i.repoTags);
        assert.ok(criImages.includes(criImage.ref), JSON.stringify(criImages));
        assert.ok(!criImages.includes(image.ref), `CRI lists docker's image: ${JSON.stringify(criImages)}`);
        const dockerImages = (await dockerOk(["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout
          .split("\n")
          .filter(Boolean);
        assert.deepEqual(dockerImages, [image.ref]);
        const mobyImages = (await nsList("moby", "images")).map((r) => r.REF);
        assert.ok(
          !mobyImages.includes(criImage.ref),
          `moby holds CRI's image: ${JSON.stringify(mobyImages)}`,
        );
        const k8sImages = (await nsList("k8s.io", "images")).map((r) => r.REF);
        assert.ok(
          !k8sImages.includes(image.ref),
          `k8s.io holds docker's image: ${JSON.stringify(k8sImages)}`,
        );

        // Stopping docker's container leaves the pod running…
        await dockerOk(["stop", "-t", "1", "dock"]);
        const st = await client.runtime.containerStatus({ containerId, verbose: false });
        assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
        const exec = await client.runtime.execSync({ containerId, cmd: ["echo", "still"], timeout: 10n });
        assert.equal(Buffer.from(exec.stdout).toString(), "still\n");
        // …and stopping the pod leaves docker's (restarted) container running.
        await dockerOk(["start", "dock"]);
        await client.runtime.stopContainer({ containerId, timeout: 1n });
        await client.runtime.stopPodSandbox({ podSandboxId });
        assert.equal(
          (await dockerOk(["inspect", "--format", "{{.State.Running}}", "dock"])).stdout.trim(),
          "true",
        );
        assert.equal((await dockerOk(["exec", "dock", "echo", "still"])).stdout, "still\n");
        const k8sTasks = parseTable(
          (await ctr(daemon.address, ["tasks", "ls"], { namespace: "moby", timeoutMs: 30_000 })).stdout,
        );
        assert.deepEqual(
          k8sTasks.map((t) => [t.TASK, t.STATUS]),
          [[dockId, "RUNNING"]],
        );
        await client.runtime.removePodSandbox({ podSandboxId });
        await dockerOk(["rm", "-f", "dock"]);
      },
    );
  });
}
