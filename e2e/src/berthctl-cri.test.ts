// `berthctl cri` against berth-cri on berthd, as a person would use crictl: pull and list
// an image, run a pod and a container from YAML configs in crictl's format, list and
// inspect them, read and follow the container's log (through a rotation), exec in it
// with its exit code passed on (also with piped stdin, and on a terminal through a
// pseudo-terminal), attach to containers, forward a local port to httpd in the pod, read
// stats, then stop and remove all of it.
import assert from "node:assert/strict";
import { rename, writeFile } from "node:fs/promises";
import { get as httpGet } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type DaemonUnderTest, startBerthdDaemon } from "./daemons.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { runInTerminal } from "./fixtures/terminal.js";
import { removeDir, tempDir, waitFor } from "./fixtures/tmp.js";

const BERTHCTL = fileURLToPath(new URL("../../packages/cli/dist/main.js", import.meta.url));
const RUNTIME = "io.containerd.berth.v2";
const CALL_TIMEOUT = 120_000;

interface Result {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** The rows of a crictl table, by column name (columns are split on runs of 2+ spaces). */
function parseCriTable(text: string): Array<Record<string, string>> {
  const [header = "", ...lines] = text.split("\n").filter((l) => l.trim() !== "");
  const names = header.trim().split(/\s{2,}/);
  return lines.map((l) => {
    const cells = l.trim().split(/\s{2,}/);
    return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? ""]));
  });
}

describe("berthctl cri against berth-cri on berthd", { timeout: 600_000 }, () => {
  let registry: Registry;
  let image: PushedImage;
  let daemon: DaemonUnderTest;
  let network: TestNetwork;
  let cri: BerthCriUnderTest;
  let client: CriClient;
  let dir: string;
  let podConfig: string;
  let containerConfig: string;

  const berthctl = async (args: string[], input?: string): Promise<Result> => {
    const r = await execa(
      process.execPath,
      [BERTHCTL, "cri", "--runtime-endpoint", `unix://${cri.address}`, ...args],
      {
        reject: false,
        timeout: CALL_TIMEOUT,
        stripFinalNewline: false,
        ...(input !== undefined ? { input } : { stdin: "ignore" as const }),
        env: { BERTH_CRI_ENDPOINT: "/nonexistent/cri.sock" },
      },
    );
    return {
      exitCode: typeof r.exitCode === "number" ? r.exitCode : -1,
      stdout: String(r.stdout ?? ""),
      stderr: String(r.stderr ?? ""),
    };
  };
  /** berthctl left running (attach, port-forward): its stdin a pipe, its output as it comes. */
  const background = (args: string[]) => {
    const child = execa(
      process.execPath,
      [BERTHCTL, "cri", "--runtime-endpoint", `unix://${cri.address}`, ...args],
      { reject: false, timeout: CALL_TIMEOUT, stdin: "pipe", buffer: false },
    );
    const out = { stdout: "", stderr: "" };
    child.stdout?.on("data", (chunk: Buffer) => {
      out.stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      out.stderr += chunk.toString();
    });
    return {
      child,
      out,
      seen: (pattern: RegExp, what: string) =>
        waitFor(() => out.stdout.match(pattern) ?? undefined, {
          what: `${what} (stdout so far ${JSON.stringify(out.stdout)}, stderr ${JSON.stringify(out.stderr)})`,
          timeoutMs: 20_000,
          intervalMs: 50,
        }),
      exitCode: async () => {
        const r = await child;
        return typeof r.exitCode === "number" ? r.exitCode : -1;
      },
    };
  };
  const ok = async (args: string[], input?: string): Promise<Result> => {
    const r = await berthctl(args, input);
    assert.equal(
      r.exitCode,
      0,
      `berthctl cri ${args.join(" ")}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`,
    );
    return r;
  };

  before(async () => {
    registry = await startRegistry();
    image = await buildSimpleImage(registry.host, "berth/berthctl-cri", "v1");
    const pauseRef = await pushPauseImage(image);
    daemon = await startBerthdDaemon();
    network = await createTestNetwork();
    dir = await tempDir("berthctl-cri-");
    cri = await startBerthCri({
      containerdAddress: daemon.address,
      runtime: RUNTIME,
      cniConfDir: network.confDir,
      sandboxImage: pauseRef,
      plainHttp: [registry.host],
    });
    client = criClient(cri.address);
    // crictl's format: snake_case keys, enums as numbers.
    podConfig = join(dir, "pod.yaml");
    await writeFile(
      podConfig,
      [
        "metadata:",
        "  name: berthctl-web",
        "  namespace: e2e",
        `  uid: berthctl-${process.pid}`,
        "  attempt: 0",
        "hostname: berthctl-pod",
        `log_directory: ${join(dir, "logs")}`,
        "labels:",
        "  app: berthctl-web",
        "linux: {}",
        "",
      ].join("\n"),
    );
    containerConfig = join(dir, "container.yaml");
    await writeFile(
      containerConfig,
      [
        "metadata:",
        "  name: web",
        "image:",
        `  image: ${image.ref}`,
        "command: [sh, -c]",
        "args:",
        "  - |",
        "    trap 'exit 0' TERM",
        "    echo hello-out; echo hello-err >&2",
        "    i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done",
        "envs:",
        "  - {key: GREETING, value: hej}",
        "log_path: web/0.log",
        "labels: {tier: front}",
        "",
      ].join("\n"),
    );
  });

  after(async () => {
    // Whatever a failed step left behind goes, through berth-cri while it is there.
    if (client !== undefined) {
      const pods = await client.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
      for (const p of pods.items)
        await client.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
      await client.images.removeImage({ image: { image: image.ref } }).catch(() => undefined);
      client.close();
    }
    await cri?.remove();
    await daemon?.stop();
    await network?.cleanup();
    if (dir !== undefined) await removeDir(dir);
    await registry?.stop();
  });

  test("version and info", async () => {
    const v = await ok(["version"]);
    assert.match(
      v.stdout,
      /^Version: {2}0\.1\.0\nRuntimeName: {2}berth\nRuntimeVersion: {2}\S+\nRuntimeApiVersion: {2}v1\n$/,
    );
    const info = JSON.parse((await ok(["info"])).stdout);
    const conditions = Object.fromEntries(
      (info.status.conditions as Array<{ type: string; status: boolean }>).map((c) => [c.type, c.status]),
    );
    assert.deepEqual(conditions, { RuntimeReady: true, NetworkReady: true });
    assert.equal(info.config?.containerd?.runtime, RUNTIME);
  });

  test("pull, images, inspecti", async () => {
    const pulled = await ok(["pull", image.ref]);
    assert.equal(pulled.stdout, `Image is up to date for ${image.configDigest}\n`);
    const rows = parseCriTable((await ok(["images"])).stdout);
    const row = rows.find((r) => r.IMAGE === `${image.host}/${image.name}`);
    assert.ok(row, JSON.stringify(rows));
    assert.equal(row.TAG, image.tag);
    assert.equal(row["IMAGE ID"], image.configDigest.slice("sha256:".length, "sha256:".length + 13));
    assert.match(row.SIZE ?? "", /^\d+(\.\d+)?[kMG]?B$/);
    assert.ok((await ok(["images", "-q"])).stdout.split("\n").includes(image.configDigest));
    const digests = parseCriTable((await ok(["images", "--digests", image.ref])).stdout);
    assert.equal(digests[0]?.DIGEST, image.manifestDigest.slice("sha256:".length, "sha256:".length + 13));
    const status = JSON.parse((await ok(["inspecti", image.ref])).stdout);
    assert.equal(status.status.id, image.configDigest);
    assert.deepEqual(status.status.repoTags, [image.ref]);
    assert.equal(status.info.chainID, image.chainId);
    const missing = await berthctl(["inspecti", `${registry.host}/berth/nothing:here`]);
    assert.equal(missing.exitCode, 1);
    assert.equal(
      missing.stderr,
      `berthctl: no such image ${registry.host}/berth/nothing:here: see 'berthctl cri images', or pull it first\n`,
    );
  });

  let podId = "";
  test("runp, pods, inspectp", async () => {
    podId = (await ok(["runp", podConfig])).stdout.trim();
    assert.match(podId, /^[0-9a-f]{64}$/);
    const rows = parseCriTable((await ok(["pods"])).stdout);
    assert.deepEqual(
      rows.map((r) => [r["POD ID"], r.STATE, r.NAME, r.NAMESPACE, r.ATTEMPT, r.RUNTIME]),
      [[podId.slice(0, 13), "Ready", "berthctl-web", "e2e", "0", "(default)"]],
    );
    assert.match(rows[0]?.CREATED ?? "", /^(Less than a second|\d+ seconds?) ago$/);
    assert.equal((await ok(["pods", "-q", "--label", "app=berthctl-web"])).stdout, `${podId}\n`);
    assert.equal((await ok(["pods", "-q", "--state", "notready"])).stdout, "");
    const status = JSON.parse((await ok(["inspectp", podId.slice(0, 8)])).stdout);
    assert.equal(status.status.id, podId);
    assert.equal(status.status.state, "SANDBOX_READY");
    assert.ok((status.status.network.ip as string).startsWith(network.prefix), status.status.network.ip);
    assert.ok(status.info.pid > 0);
  });

  let containerId = "";
  const logPath = () => join(dir, "logs", "web", "0.log");
  test("create, start, ps, inspect", async () => {
    containerId = (await ok(["create", podId, containerConfig, podConfig])).stdout.trim();
    assert.match(containerId, /^[0-9a-f]{64}$/);
    assert.equal((await ok(["ps", "-q"])).stdout, "", "a created container is not running");
    const created = parseCriTable((await ok(["ps", "-a"])).stdout);
    assert.equal(created[0]?.STATE, "Created");
    assert.equal((await ok(["start", containerId])).stdout, `${containerId}\n`);
    const rows = parseCriTable((await ok(["ps"])).stdout);
    assert.deepEqual(
      rows.map((r) => [r.CONTAINER, r.IMAGE, r.STATE, r.NAME, r.ATTEMPT, r["POD ID"]]),
      [[containerId.slice(0, 13), image.ref, "Running", "web", "0", podId.slice(0, 13)]],
    );
    const status = JSON.parse((await ok(["inspect", containerId])).stdout);
    assert.equal(status.status.id, containerId);
    assert.equal(status.status.state, "CONTAINER_RUNNING");
    assert.equal(status.status.logPath, logPath());
    assert.equal(status.status.labels.tier, "front");
    assert.match(status.status.startedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);
    assert.equal(status.status.finishedAt, "0001-01-01T00:00:00Z");
    assert.ok(status.info.pid > 0);
    const missing = await berthctl(["inspect", "0123456789"]);
    assert.equal(missing.exitCode, 1);
    assert.equal(missing.stderr, "berthctl: container 0123456789 not found: see 'berthctl cri ps -a'\n");
  });

  test("logs: the container's output, stdout and stderr apart; --tail and --timestamps", async () => {
    const r = await waitFor(
      async () => {
        const l = await ok(["logs", containerId]);
        return l.stdout.includes("tick 1\n") ? l : undefined;
      },
      { what: "two ticks in the container's log", timeoutMs: 20_000, intervalMs: 250 },
    );
    assert.ok(r.stdout.startsWith("hello-out\ntick 0\ntick 1\n"), r.stdout);
    assert.equal(r.stderr, "hello-err\n");
    const last = await ok(["logs", "--tail", "1", "-t", containerId]);
    assert.match(last.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) tick \d+\n$/);
  });

  test("exec: output on its streams, the exit code passed on", async () => {
    const r = await berthctl([
      "exec",
      "-s",
      containerId,
      "sh",
      "-c",
      'echo "$GREETING"; echo oops >&2; exit 3',
    ]);
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, "hej\n");
    assert.equal(r.stderr, "oops\n");
    const plain = await ok(["exec", containerId.slice(0, 12), "echo", "hi"]);
    assert.equal(plain.stdout, "hi\n");
  });

  test("exec -i: piped input goes in and its end closes stdin; stderr apart; the exit code", async () => {
    const r = await berthctl(
      ["exec", "-i", containerId, "sh", "-c", "cat; echo err >&2; exit 3"],
      "line one\nline two\n",
    );
    assert.equal(r.exitCode, 3, r.stderr);
    assert.equal(r.stdout, "line one\nline two\n");
    assert.equal(r.stderr, "err\n");
    const missing = await berthctl(["exec", "-i", "0123456789", "true"], "");
    assert.equal(missing.exitCode, 1);
    assert.equal(missing.stderr, "berthctl: container 0123456789 not found: see 'berthctl cri ps'\n");
  });

  test("exec -it through a pseudo-terminal: raw mode, echo, the terminal's size and its changes, the exit code", async () => {
    const term = runInTerminal(
      `${process.execPath} ${BERTHCTL} cri --runtime-endpoint ${cri.address} exec -it ${containerId} sh`,
      { rows: 30, cols: 100, timeoutMs: CALL_TIMEOUT },
    );
    await term.waitFor(/^\/ # /m, "the shell's prompt");
    // The output is 42 where the typed line shows $((6*7)): the echo and the answer apart.
    term.type("echo hel''lo-$((6*7))\r");
    await term.waitFor(/^hello-42\r*$/m, "the command's output");
    assert.equal(
      term.output().split("echo hel''lo-$((6*7))").length - 1,
      1,
      "the typed line is echoed once, by the container's terminal: berthctl's own is raw",
    );
    term.type("stty size\r");
    await term.waitFor(/^30 100\r*$/m, "the terminal's size in the container");
    await term.resize(40, 120);
    // The size reaches the container a moment after SIGWINCH: ask until it shows.
    await waitFor(
      async () => {
        term.type("stty size\r");
        await new Promise((r) => setTimeout(r, 300));
        return /^40 120\r*$/m.test(term.output());
      },
      { what: "the new size in the container", timeoutMs: 20_000, intervalMs: 100 },
    );
    term.type("exit 7\r");
    assert.equal(await term.exited(), 7, term.output());
  });

  /** Creates and starts another container of the test image in the pod; its ID. */
  const startContainer = async (name: string, script: string, more: string[] = []): Promise<string> => {
    const config = join(dir, `${name}.yaml`);
    const lines = ["metadata:", `  name: ${name}`, "image:", `  image: ${image.ref}`];
    lines.push(`command: [sh, -c, '${script}']`, `log_path: ${name}/0.log`, ...more, "");
    await writeFile(config, lines.join("\n"));
    const id = (await ok(["create", podId, config, podConfig])).stdout.trim();
    await ok(["start", id]);
    return id;
  };

  test("attach: the container's output from now on; Ctrl-C leaves it running", async () => {
    const attached = background(["attach", containerId]);
    const first = await attached.seen(/^tick (\d+)$/m, "a tick through attach");
    await attached.seen(new RegExp(`^tick ${Number(first[1]) + 1}$`, "m"), "the next tick");
    attached.child.kill("SIGINT");
    assert.equal(await attached.exitCode(), 0, attached.out.stderr);
    assert.equal(attached.out.stderr, "");
    const status = JSON.parse((await ok(["inspect", containerId])).stdout);
    assert.equal(status.status.state, "CONTAINER_RUNNING");
  });

  test("attach -i: what is typed reaches the container's stdin, its answers come back; the end of input detaches", async () => {
    const readerId = await startContainer("reader", "while read l; do echo got $l; done", ["stdin: true"]);
    const attached = background(["attach", "-i", readerId]);
    // Input written before the session is up is kept until it is.
    attached.child.stdin?.write("one\n");
    await attached.seen(/^got one$/m, "the answer to the first line");
    attached.child.stdin?.write("two\n");
    await attached.seen(/^got two$/m, "the answer to the second line");
    attached.child.stdin?.end();
    assert.equal(await attached.exitCode(), 0, attached.out.stderr);
    assert.equal(attached.out.stdout, "got one\ngot two\n");
    assert.equal(attached.out.stderr, "");
    // Detaching left the container and its stdin be: a second attach still talks to it.
    const again = await ok(["attach", "-i", readerId], "three\n");
    assert.equal(again.stdout, "got three\n");
    const status = JSON.parse((await ok(["inspect", readerId])).stdout);
    assert.equal(status.status.state, "CONTAINER_RUNNING");
    const missing = await berthctl(["attach", "-i", "0123456789"], "");
    assert.equal(missing.stderr, "berthctl: container 0123456789 not found: see 'berthctl cri ps'\n");
    await ok(["rm", "-f", readerId]);
  });

  test("port-forward: httpd in the pod through 127.0.0.1, connections at once; a refused port reported; Ctrl-C ends it", async () => {
    const wwwId = await startContainer(
      "www",
      "mkdir -p /tmp/www && echo page-from-pod > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
    );
    const forwarding = background(["port-forward", podId, "0:8080", ":9"]);
    const web = await forwarding.seen(/^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$/m, "the forwarded port");
    const closed = await forwarding.seen(/^Forwarding from 127\.0\.0\.1:(\d+) -> 9$/m, "the second port");
    const get = (port: string) =>
      new Promise<string>((resolve, reject) => {
        const req = httpGet(
          { host: "127.0.0.1", port: Number(port), path: "/index.html", agent: false },
          (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => {
              body += c;
            });
            res.once("end", () => resolve(`${res.statusCode} ${body}`));
            res.once("error", reject);
          },
        );
        req.once("error", reject);
      });
    // httpd may not listen yet.
    await waitFor(async () => (await get(web[1]!)) === "200 page-from-pod\n", {
      what: "the page through the forwarded port",
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    const pages = await Promise.all(Array.from({ length: 8 }, () => get(web[1]!)));
    assert.deepEqual(pages, Array(8).fill("200 page-from-pod\n"));
    await assert.rejects(get(closed[1]!), "nothing listens on port 9 in the pod: the connection is dropped");
    await waitFor(() => forwarding.out.stderr.includes("-> 9:"), {
      what: "the refused port reported",
      timeoutMs: 10_000,
    });
    assert.match(
      forwarding.out.stderr,
      new RegExp(
        `^berthctl: forwarding 127\\.0\\.0\\.1:${closed[1]} -> 9: error forwarding port 9 to pod ${podId}, uid : .*: check that the pod listens on port 9$`,
        "m",
      ),
    );
    assert.equal(forwarding.out.stderr.trim().split("\n").length, 1, "one line for the one failure");
    // Still forwarding after that.
    assert.equal(await get(web[1]!), "200 page-from-pod\n");
    forwarding.child.kill("SIGINT");
    assert.equal(await forwarding.exitCode(), 0, forwarding.out.stderr);
    await assert.rejects(get(web[1]!), "the port is closed once port-forward has ended");
    await ok(["rm", "-f", wwwId]);
  });

  test("stats and statsp", async () => {
    const rows = parseCriTable((await ok(["stats", "-s", "1"])).stdout);
    const row = rows.find((r) => r.CONTAINER === containerId.slice(0, 13));
    assert.ok(row, JSON.stringify(rows));
    assert.equal(row.NAME, "web");
    assert.match(row["CPU %"] ?? "", /^\d+\.\d\d$/);
    assert.match(row.MEM ?? "", /^\d+(\.\d+)?[kMG]?B$/);
    assert.match(row.DISK ?? "", /^\d+(\.\d+)?[kMG]?B$/);
    assert.match(row.INODES ?? "", /^\d+$/);
    const json = JSON.parse((await ok(["stats", "-o", "json", containerId])).stdout);
    assert.equal(json.stats[0].attributes.id, containerId);
    assert.ok(Number(json.stats[0].memory.workingSetBytes.value) > 0);
    const pods = parseCriTable((await ok(["statsp", "-s", "1"])).stdout);
    assert.equal(pods.find((p) => p["POD ID"] === podId.slice(0, 13))?.POD, "berthctl-web");
  });

  test("logs -f follows the log through a rotation and ends when the container stops", async () => {
    const follower = execa(
      process.execPath,
      [BERTHCTL, "cri", "--runtime-endpoint", cri.address, "logs", "-f", "--tail", "0", containerId],
      { reject: false, timeout: CALL_TIMEOUT, stdin: "ignore", buffer: true },
    );
    let seen = "";
    follower.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
    });
    const ticks = () => [...seen.matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
    await waitFor(() => ticks().length >= 2, {
      what: "ticks from logs -f",
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    // kubelet's rotation: rename the file, then have the runtime reopen the path.
    await rename(logPath(), `${logPath()}.1`);
    await ok(["logs", "--reopen", "--tail", "0", containerId]);
    const atRotation = Math.max(...ticks());
    await waitFor(() => Math.max(...ticks()) >= atRotation + 2, {
      what: "ticks written after the rotation",
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    assert.equal((await ok(["stop", "-t", "10", containerId])).stdout, `${containerId}\n`);
    const done = await follower;
    assert.equal(done.exitCode, 0, String(done.stderr));
    const all = ticks();
    assert.deepEqual(
      all,
      all.map((_, i) => (all[0] ?? 0) + i),
      "no tick lost or repeated across the rotation",
    );
  });

  test("stop, rm (with the log files), stopp, rmp", async () => {
    const exited = parseCriTable((await ok(["ps", "-a"])).stdout);
    assert.equal(exited[0]?.STATE, "Exited");
    const status = JSON.parse((await ok(["inspect", containerId])).stdout);
    assert.equal(status.status.state, "CONTAINER_EXITED");
    assert.equal(status.status.exitCode, 0);
    assert.equal((await ok(["rm", containerId])).stdout, `${containerId}\n`);
    assert.equal((await ok(["ps", "-a", "-q"])).stdout, "");
    const logs = await execa("ls", [join(dir, "logs", "web")], { reject: false });
    assert.equal(String(logs.stdout).trim(), "", "the log and its rotation are removed");
    const running = await berthctl(["rmp", podId]);
    assert.equal(running.exitCode, 1);
    assert.equal(
      running.stderr,
      `berthctl: pod ${podId} is ready: stop it first ('berthctl cri stopp ${podId}'), or pass -f\n`,
    );
    assert.equal((await ok(["stopp", podId])).stdout, `Stopped sandbox ${podId}\n`);
    assert.equal(parseCriTable((await ok(["pods"])).stdout)[0]?.STATE, "NotReady");
    assert.equal((await ok(["rmp", podId])).stdout, `Removed sandbox ${podId}\n`);
    assert.equal((await ok(["pods", "-q"])).stdout, "");
  });

  test("rmi removes the image with its tags; imagefsinfo", async () => {
    const fs = JSON.parse((await ok(["imagefsinfo"])).stdout);
    assert.ok(Number(fs.status.imageFilesystems[0].usedBytes.value) > 0);
    assert.equal((await ok(["rmi", image.ref])).stdout, `Deleted: ${image.ref}\n`);
    assert.ok(!(await ok(["images", "-q"])).stdout.includes(image.configDigest));
    const again = await berthctl(["rmi", image.ref]);
    assert.equal(again.exitCode, 1);
    assert.equal(again.stderr, `berthctl: no such image ${image.ref}: see 'berthctl cri images'\n`);
  });

  test("an unreachable endpoint is one line saying what to do", async () => {
    const r = await execa(process.execPath, [BERTHCTL, "cri", "pods"], {
      reject: false,
      env: { BERTH_CRI_ENDPOINT: join(dir, "none.sock") },
    });
    assert.equal(r.exitCode, 1);
    assert.equal(
      r.stderr,
      `berthctl: cannot reach the CRI runtime at ${join(dir, "none.sock")} (connect ENOENT): is berth-cri running? try --runtime-endpoint SOCK or set BERTH_CRI_ENDPOINT`,
    );
  });
});
