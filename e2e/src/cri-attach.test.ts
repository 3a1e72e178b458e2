// Attach to containers created without a log path (as critest creates them): the live
// output as the process writes it, with and without a terminal (a terminal's bytes: CR LF,
// a prompt without a newline, also for a terminal with a log path), input echoed back, an exited container refused, a
// chatty container never held up by nobody attaching, and attach again after berth-cri
// restarted. SPDY, the way kubectl attaches (./cri/streaming-clients.ts). On berth-cri
// over berthd (Berth's shim) and over containerd 1.6 (runc's shim).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ContainerConfig, ContainerState, type PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { type ClientError, Status } from "nice-grpc";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type SpdyCommand, spdyCommand } from "./cri/streaming-clients.js";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, sleep, tempDir, waitFor } from "./fixtures/tmp.js";

let registry: Registry;
let image: PushedImage;
let pauseRef: string;
before(async () => {
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/cri-attach", "v1");
  pauseRef = await pushPauseImage(image);
});
after(async () => {
  await registry?.stop();
});

/** Every `<prefix><n>` in `text`, in order. */
function numbered(text: string, prefix: string): number[] {
  return [...text.matchAll(new RegExp(`${prefix}(\\d+)`, "g"))].map((m) => Number(m[1]));
}

for (const { kind, start } of daemonKinds) {
  const runtime = kind === "berthd" ? "io.containerd.berth.v2" : "io.containerd.runc.v2";
  describe(
    `CRI attach without a log path through berth-cri on ${kind} (${runtime})`,
    { timeout: 600_000 },
    () => {
      let daemon: DaemonUnderTest;
      let network: TestNetwork;
      let cri: BerthCriUnderTest;
      let client: CriClient;
      let logDir: string;
      let podId = "";
      const sessions: SpdyCommand[] = [];
      const podConfig = (): PodSandboxConfig => ({
        metadata: { name: "attach", namespace: "e2e", uid: `uid-attach-${kind}-${process.pid}`, attempt: 0 },
        hostname: "attach-pod",
        logDirectory: join(logDir, "pod"),
        dnsConfig: undefined,
        portMappings: [],
        labels: {},
        annotations: {},
        linux: undefined,
        windows: undefined,
      });

      /** A started container with no log path. */
      const run = async (name: string, script: string, more: Partial<ContainerConfig> = {}) => {
        const { containerId } = await client.runtime.createContainer({
          podSandboxId: podId,
          config: {
            metadata: { name, attempt: 0 },
            image: { image: image.ref },
            command: ["sh", "-c", script],
            ...more,
          },
          sandboxConfig: podConfig(),
        });
        await client.runtime.startContainer({ containerId });
        return containerId;
      };

      const attach = async (
        containerId: string,
        streams: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean },
      ) => {
        const { url } = await client.runtime.attach({
          containerId,
          stdin: streams.stdin ?? false,
          stdout: streams.stdout ?? false,
          stderr: streams.stderr ?? false,
          tty: streams.tty ?? false,
        });
        const s = await spdyCommand(url, streams);
        sessions.push(s);
        return s;
      };

      const TICKER = "i=0; while true; do i=$((i+1)); echo out-$i; echo err-$i >&2; sleep 1; done";
      let ticker = "";

      before(async () => {
        daemon = await start();
        network = await createTestNetwork();
        logDir = await tempDir("cri-attach-logs-");
        cri = await startBerthCri({
          containerdAddress: daemon.address,
          runtime,
          cniConfDir: network.confDir,
          sandboxImage: pauseRef,
          plainHttp: [registry.host],
        });
        client = criClient(cri.address);
        await client.images.pullImage({ image: { image: image.ref, annotations: {} } });
        podId = (await client.runtime.runPodSandbox({ config: podConfig(), runtimeHandler: "" }))
          .podSandboxId;
        ticker = await run("ticker", TICKER);
      });

      after(async () => {
        for (const s of sessions) s.client.drop();
        if (client !== undefined) {
          const pods = await client.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
          for (const p of pods.items) {
            await client.runtime.stopPodSandbox({ podSandboxId: p.id }).catch(() => undefined);
            await client.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
          }
          client.close();
        }
        await cri?.remove();
        await daemon?.stop();
        await network?.cleanup();
        if (logDir !== undefined) await removeDir(logDir);
      });

      test("the ticker has no log path", async () => {
        const st = await client.runtime.containerStatus({ containerId: ticker, verbose: false });
        assert.equal(st.status?.logPath, "");
        assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
      });

      test("attach without a terminal: stdout and stderr apart, a line a second as they are written", async () => {
        const s = await attach(ticker, { stdout: true, stderr: true });
        const arrived: number[] = [];
        await s.stdout!.until(
          (x) => {
            const n = numbered(x.text, "out-").length;
            if (n > arrived.length) arrived.push(Date.now());
            return n >= 3;
          },
          "three lines of output",
          15_000,
        );
        await s.stderr!.until((x) => numbered(x.text, "err-").length >= 2, "two lines on stderr", 5_000);
        const outs = numbered(s.stdout!.text, "out-");
        // Consecutive lines, whole, each on its stream and none of the other's.
        assert.match(s.stdout!.text, /^(out-\d+\n)+$/);
        assert.match(s.stderr!.text, /^(err-\d+\n)+$/);
        assert.equal(outs[1], outs[0]! + 1);
        assert.equal(outs[2], outs[0]! + 2);
        // Live: the lines came about a second apart, not in one batch.
        assert.ok(
          arrived[2]! - arrived[0]! >= 1_000,
          `lines arrived at ${arrived.map((t) => t - arrived[0]!)} ms`,
        );
        s.client.drop();
        await sleep(300);
        const st = await client.runtime.containerStatus({ containerId: ticker, verbose: false });
        assert.equal(
          st.status?.state,
          ContainerState.CONTAINER_RUNNING,
          "the container goes on after the client left",
        );
      });

      for (const logPath of ["", "tty-ticker-logged/0.log"]) {
        const which =
          logPath === "" ? "no log path" : "a log path (with Berth's shim, the log it writes is followed)";
        test(`attach with a terminal, ${which}: the terminal's bytes, a prompt without a newline included`, async () => {
          const id = await run(
            logPath === "" ? "tty-ticker" : "tty-ticker-logged",
            "i=0; while true; do i=$((i+1)); echo tty-$i; printf 'prompt-%d> ' $i; sleep 1; done",
            { tty: true, logPath },
          );
          const s = await attach(id, { stdout: true, tty: true });
          // The line ends as the terminal sends it (CR LF), and the prompt arrives before the next line.
          await s.stdout!.until(
            (x) => /tty-(\d+)\r\nprompt-\1> $/.test(x.text),
            "a line and the prompt after it, no newline yet",
            15_000,
          );
          await s.stdout!.until((x) => numbered(x.text, "tty-").length >= 2, "a second line", 5_000);
          assert.doesNotMatch(s.stdout!.text.replace(/\r\n/g, ""), /\n/, "every newline comes as CR LF");
          s.client.drop();
        });
      }

      test("attach -i: what the client writes reaches the container, its answer comes back", async () => {
        const id = await run("echo", "while read l; do echo got-$l; done", { stdin: true });
        const s = await attach(id, { stdin: true, stdout: true, stderr: true });
        s.stdin!.write("one\n");
        await s.stdout!.until((x) => x.text.includes("got-one\n"), "the echo of one", 15_000);
        s.stdin!.write("two\n");
        await s.stdout!.until((x) => x.text.includes("got-two\n"), "the echo of two", 15_000);
        assert.equal(s.stdout!.text, "got-one\ngot-two\n");
        s.client.drop();

        const ttyId = await run("tty-echo", "while read l; do echo got-$l; done", { stdin: true, tty: true });
        const t = await attach(ttyId, { stdin: true, stdout: true, tty: true });
        t.stdin!.write("three\r");
        // The terminal echoes the input, then the container answers.
        await t.stdout!.until((x) => x.text.includes("three\r\ngot-three\r\n"), "the echo of three", 15_000);
        t.client.drop();
      });

      test("a chatty container is never held up when nobody attaches", async () => {
        const id = await run(
          "chatty",
          "yes chatty-chatty-chatty | head -c 50000000; echo > /tmp/done; sleep 100000",
        );
        await waitFor(
          async () => {
            const r = await client.runtime.execSync({
              containerId: id,
              cmd: ["cat", "/tmp/done"],
              timeout: 10n,
            });
            return r.exitCode === 0;
          },
          { what: "the chatty container to write 50 MB", timeoutMs: 60_000, intervalMs: 500 },
        );
        // Attaching now gets the live output, not the backlog.
        const s = await attach(ticker, { stdout: true });
        await s.stdout!.until((x) => numbered(x.text, "out-").length >= 1, "a line", 10_000);
        s.client.drop();
      });

      test("attach to an exited container fails: it is in CONTAINER_EXITED state", async () => {
        const id = await run("quick", "echo bye");
        await waitFor(
          async () =>
            (await client.runtime.containerStatus({ containerId: id, verbose: false })).status?.state ===
            ContainerState.CONTAINER_EXITED,
          { what: "the container to exit", timeoutMs: 15_000, intervalMs: 100 },
        );
        await assert.rejects(client.runtime.attach({ containerId: id, stdout: true }), (err: ClientError) => {
          assert.equal(err.code, Status.FAILED_PRECONDITION);
          assert.match(err.details, new RegExp(`container ${id} is in CONTAINER_EXITED state`));
          return true;
        });
      });

      test("after berth-cri restarts, attach gets the live output again; the container never stopped", async () => {
        const before = await attach(ticker, { stdout: true });
        await before.stdout!.until(
          (x) => numbered(x.text, "out-").length >= 1,
          "a line before the restart",
          10_000,
        );
        const last = numbered(before.stdout!.text, "out-").at(-1)!;
        await cri.stop();
        await sleep(2_000);
        await cri.start();
        client.close();
        client = criClient(cri.address);
        const s = await attach(ticker, { stdout: true, stderr: true });
        await s.stdout!.until(
          (x) => numbered(x.text, "out-").length >= 2,
          "two lines after the restart",
          15_000,
        );
        await s.stderr!.until((x) => numbered(x.text, "err-").length >= 1, "a line on stderr", 5_000);
        const after = numbered(s.stdout!.text, "out-");
        assert.ok(
          after[0]! > last + 1,
          `the ticker went on while berth-cri was away (${last} → ${after[0]})`,
        );
        assert.equal(after[1], after[0]! + 1);
        s.client.drop();
      });
    },
  );
}
