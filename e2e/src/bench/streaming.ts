// Benchmark: sequential exec round trips through a CRI streaming server, as kubectl exec
// makes them: CRI Exec → URL → upgrade → read the command's stdout and the success status
// on the error channel → the server closes the connection. `echo hi`, stdout only, no stdin
// or terminal, over SPDY/3.1 (v4.channel.k8s.io) and over WebSocket (v5.channel.k8s.io
// where the server speaks it, v4 otherwise). Against berth-cri on berthd (Berth's shim) and
// Debian's containerd 1.6 with its built-in CRI plugin and streaming server (runc's shim),
// both up in the same run, one pod each, taking turns per protocol. Reports latency per
// round trip (p50, p99, mean) and the CPU seconds of every runtime process over the
// measured round trips: berth-cri + berthd + shim, or containerd + shim (their own time;
// what they reaped, runc and the exec'd process, apart).
//   node e2e/dist/bench/streaming.js [--count 200] [--warmup 10] [--runtimes containerd,berth]
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual, parseArgs } from "node:util";
import type { CriClient } from "../cri/client.js";
import { createTestNetwork } from "../cri/network.js";
import { SPDY_EXEC_PROTOCOLS, SUCCESS, WsTestClient, spdyCommand } from "../cri/streaming-clients.js";
import { startRegistry } from "../fixtures/registry.js";
import { removeDir, tempDir } from "../fixtures/tmp.js";
import {
  type CriRuntime,
  benchPodConfig,
  keepLogs,
  pullBenchImages,
  pushBenchImages,
  removeAllPods,
  resultsDir,
  startBerthRuntime,
  startContainerdRuntime,
  startSleepPod,
} from "./cri-runtimes.js";
import { cpuSeconds, percentile, reapedChildrenCpuSeconds } from "./measure.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "200" },
    warmup: { type: "string", default: "10" },
    runtimes: { type: "string", default: "containerd,berth" },
  },
});
const count = Number(values.count);
const warmup = Number(values.warmup);
const runtimeKinds = values.runtimes.split(",");
if (!Number.isInteger(count) || count < 1) throw new Error("--count: expected a positive integer");
if (!Number.isInteger(warmup) || warmup < 0) throw new Error("--warmup: expected a whole number");
for (const k of runtimeKinds) {
  if (k !== "containerd" && k !== "berth") throw new Error(`--runtimes: unknown runtime ${k}`);
}

/** A round trip that takes longer than this is a failure, not a slow sample. */
const ROUND_TRIP_TIMEOUT_MS = 30_000;
const COMMAND = ["echo", "hi"];
const EXPECTED_STDOUT = "hi\n";

interface Protocol {
  name: "SPDY" | "WebSocket";
  /** One round trip; returns the protocol the server chose. */
  roundTrip(client: CriClient, containerId: string): Promise<string>;
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: no answer in ${ROUND_TRIP_TIMEOUT_MS} ms`)),
        ROUND_TRIP_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

function checkOutcome(protocol: string, stdout: string, status: string): void {
  if (stdout !== EXPECTED_STDOUT) throw new Error(`${protocol}: stdout ${JSON.stringify(stdout)}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(status);
  } catch {
    throw new Error(`${protocol}: error channel ${JSON.stringify(status)} is not a Status`);
  }
  if (!isDeepStrictEqual(parsed, SUCCESS)) throw new Error(`${protocol}: status ${status}`);
}

const PROTOCOLS: Protocol[] = [
  {
    name: "SPDY",
    async roundTrip(client, containerId) {
      const { url } = await client.runtime.exec({ containerId, cmd: COMMAND, stdout: true });
      // kubectl's offer, newest first; both servers pick v4.
      const s = await spdyCommand(url, { stdout: true }, { protocols: SPDY_EXEC_PROTOCOLS });
      const [stdout, status] = await Promise.all([
        s.stdout!.all(ROUND_TRIP_TIMEOUT_MS),
        s.error.all(ROUND_TRIP_TIMEOUT_MS),
      ]);
      await withTimeout(s.client.closed, "SPDY: the connection to close");
      checkOutcome(s.protocol, stdout, status);
      return s.protocol;
    },
  },
  {
    name: "WebSocket",
    async roundTrip(client, containerId) {
      const { url } = await client.runtime.exec({ containerId, cmd: COMMAND, stdout: true });
      // kubectl 1.30's offer: v5 first, then v4 (containerd 1.6 stops at v4).
      const { client: ws, answer } = await WsTestClient.connect(url, [
        "v5.channel.k8s.io",
        "v4.channel.k8s.io",
      ]);
      if (ws === undefined) throw new Error(`WebSocket upgrade: HTTP ${answer.status} ${answer.body}`);
      await withTimeout(ws.closed, "WebSocket: the connection to close");
      checkOutcome(ws.protocol, ws.text(1), ws.text(3));
      return ws.protocol;
    },
  },
];

interface Result {
  runtime: string;
  protocol: string;
  count: number;
  latencyMs: { p50: number; p99: number; mean: number; max: number };
  /** Own CPU seconds of each runtime process over the measured round trips. */
  cpuSeconds: Record<string, number> & { total: number };
  /** CPU seconds of the processes they reaped meanwhile (runc, the exec'd command). */
  reapedCpuSeconds: number;
  wallSeconds: number;
}

const round2 = (x: number) => Number(x.toFixed(2));
const round3 = (x: number) => Number(x.toFixed(3));

interface Target {
  rt: CriRuntime;
  containerId: string;
}

async function measure(target: Target, protocol: Protocol): Promise<Result> {
  const { rt, containerId } = target;
  for (let i = 0; i < warmup; i++) await protocol.roundTrip(rt.client, containerId);
  const processes = [...rt.daemons(), ...rt.shimPids().map((pid) => ({ name: "shim", pid }))];
  const cpu0 = processes.map((p) => cpuSeconds(p.pid));
  const reaped0 = processes.map((p) => reapedChildrenCpuSeconds(p.pid));
  const times: number[] = [];
  let chosen = "";
  const w0 = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    chosen = await protocol.roundTrip(rt.client, containerId);
    times.push(performance.now() - t0);
  }
  const wall = (performance.now() - w0) / 1000;
  const cpu: Record<string, number> = {};
  let total = 0;
  let reaped = 0;
  processes.forEach((p, i) => {
    const used = Math.max(0, cpuSeconds(p.pid) - cpu0[i]!);
    cpu[p.name] = round2((cpu[p.name] ?? 0) + used);
    total += used;
    reaped += Math.max(0, reapedChildrenCpuSeconds(p.pid) - reaped0[i]!);
  });
  return {
    runtime: rt.name,
    protocol: `${protocol.name} ${chosen}`,
    count,
    latencyMs: {
      p50: round2(percentile(times, 50)),
      p99: round2(percentile(times, 99)),
      mean: round2(times.reduce((a, t) => a + t, 0) / times.length),
      max: round2(Math.max(...times)),
    },
    cpuSeconds: { ...cpu, total: round2(total) },
    reapedCpuSeconds: round2(reaped),
    wallSeconds: round3(wall),
  };
}

function row(r: Result): string {
  return [
    r.runtime.padEnd(22),
    r.protocol.padEnd(28),
    `${r.latencyMs.p50}`.padStart(7),
    `${r.latencyMs.p99}`.padStart(7),
    `${r.latencyMs.mean}`.padStart(7),
    `${r.cpuSeconds.total}`.padStart(7),
    `${r.reapedCpuSeconds}`.padStart(7),
  ].join(" ");
}

async function main(): Promise<void> {
  const registry = await startRegistry();
  const network = await createTestNetwork();
  const logDir = await tempDir("bench-streaming-logs-");
  const runtimes: CriRuntime[] = [];
  const targets: Target[] = [];
  const results: Result[] = [];
  try {
    const images = await pushBenchImages(registry.host, "bench-streaming");
    for (const kind of runtimeKinds) {
      const rt =
        kind === "containerd"
          ? await startContainerdRuntime(network, images, registry.host)
          : await startBerthRuntime({
              name: "berth-cri on berthd",
              network,
              images,
              registryHost: registry.host,
            });
      runtimes.push(rt);
      await pullBenchImages(rt.client, images);
      const pod = benchPodConfig(`streaming-${kind}`, logDir, { bench: "streaming" });
      targets.push({ rt, containerId: (await startSleepPod(rt.client, images, pod)).containerId });
    }
    // Runtimes take turns per protocol, so that a change in the machine's load meanwhile
    // falls on both.
    for (const protocol of PROTOCOLS) {
      for (const target of targets) {
        const result = await measure(target, protocol).catch(async (err: unknown) => {
          await keepLogs("streaming", target.rt);
          throw err;
        });
        results.push(result);
        process.stderr.write(`${JSON.stringify(result)}\n`);
      }
    }
  } finally {
    for (const rt of runtimes) {
      await removeAllPods(rt.client).catch(() => undefined);
      await rt.stop();
    }
    await removeDir(logDir);
    await network.cleanup();
    await registry.stop();
  }

  console.log(
    `${count} sequential exec round trips of \`${COMMAND.join(" ")}\` each (after ${warmup} warm-up ones). Latency in ms; CPU in seconds over the ${count}.`,
  );
  console.log("runtime                protocol                         p50     p99    mean     CPU  reaped");
  for (const r of results) console.log(row(r));
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "-");
  console.log("ratios berth-cri / containerd (p50, p99, mean, CPU):");
  for (const protocol of PROTOCOLS) {
    const of = (runtime: string) =>
      results.find((r) => r.protocol.startsWith(`${protocol.name} `) && r.runtime.startsWith(runtime));
    const b = of("berth");
    const c = of("containerd");
    if (b === undefined || c === undefined) continue;
    console.log(
      `  ${protocol.name.padEnd(10)} ${ratio(b.latencyMs.p50, c.latencyMs.p50)} ${ratio(b.latencyMs.p99, c.latencyMs.p99)} ${ratio(b.latencyMs.mean, c.latencyMs.mean)} ${ratio(b.cpuSeconds.total, c.cpuSeconds.total)}`,
    );
  }
  const summary = {
    benchmark: "cri streaming exec round trips",
    date: new Date().toISOString(),
    count,
    warmup,
    results,
  };
  console.log(JSON.stringify(summary));
  await mkdir(resultsDir, { recursive: true });
  await writeFile(join(resultsDir, "streaming.json"), `${JSON.stringify(summary, null, 2)}\n`);
}

main().catch((err) => {
  console.error(`bench streaming: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
