// `berthctl cri` end to end inside the process: routing and --runtime-endpoint, help,
// one-line errors, and the commands' output against a fake CRI runtime on a unix socket.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ContainerFilter,
  ContainerState,
  ContainerStatus,
  Image,
  ImageServiceDefinition,
  type ImageServiceImplementation,
  PodSandbox,
  PodSandboxState,
  RuntimeServiceDefinition,
  type RuntimeServiceImplementation,
} from "@berth/api/cri/runtime/v1/api";
import { ClientError, type Server, ServerError, Status, createServer } from "nice-grpc";
import { run, usage } from "../../berthctl.js";
import type { Output } from "../../command.js";
import {
  CRI_ENDPOINT_ENV,
  DEFAULT_CRI_ENDPOINT,
  criEndpoint,
  describeCriFailure,
  endpointPath,
} from "../../cri-client.js";

class Capture implements Output {
  text = "";
  write(chunk: string | Uint8Array): boolean {
    this.text += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  }
}

async function berthctl(args: string[], env: Record<string, string> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(args, { stdout, stderr, env, signal: new AbortController().signal });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** A service whose missing methods answer UNIMPLEMENTED. */
function fake<T extends object>(methods: Partial<T>): T {
  return new Proxy(methods, {
    get: (target, key) =>
      (target as Record<string | symbol, unknown>)[key] ??
      (async () => {
        throw new ServerError(Status.UNIMPLEMENTED, `${String(key)} is not in the fake`);
      }),
  }) as T;
}

describe("routing, help and the endpoint", () => {
  test("the usage lists the cri commands and their option", () => {
    const text = usage();
    assert.match(text, /^ {7}berthctl cri \[--runtime-endpoint SOCK\] <command> \[options\]$/m);
    assert.match(text, /^ {2}-r, --runtime-endpoint SOCK/m);
    for (const c of [
      "version",
      "info",
      "pods",
      "ps",
      "images",
      "inspect",
      "inspectp",
      "inspecti",
      "logs",
      "exec",
      "attach",
      "port-forward",
    ]) {
      assert.match(text, new RegExp(`^  cri ${c} `, "m"));
    }
    for (const c of [
      "stats",
      "statsp",
      "runp",
      "create",
      "start",
      "stop",
      "rm",
      "stopp",
      "rmp",
      "pull",
      "rmi",
    ]) {
      assert.match(text, new RegExp(`^  cri ${c} `, "m"));
    }
    assert.match(text, /^ {2}cri imagefsinfo/m);
  });

  test("cri alone shows its commands and fails; --help and a command's --help succeed", async () => {
    const none = await berthctl(["cri"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^Usage: berthctl cri \[--runtime-endpoint SOCK\] <command> \[options\]\n/);
    assert.match(none.stderr, /^ {2}pods \[--name RE\]/m);
    const help = await berthctl(["cri", "-r", "/x.sock", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--runtime-endpoint SOCK {3}CRI socket/);
    const ps = await berthctl(["cri", "ps", "--help"]);
    assert.equal(ps.code, 0);
    assert.match(ps.stdout, /^Usage: berthctl cri ps \[-a\] /);
    const exec = await berthctl(["cri", "exec", "c1", "ls", "-h"]);
    assert.doesNotMatch(exec.stdout, /^Usage/, "-h of the command run is not berthctl's");
  });

  test("the endpoint: option, then environment, then default; unix:// or a path", () => {
    assert.equal(criEndpoint(undefined, {}), DEFAULT_CRI_ENDPOINT);
    assert.equal(criEndpoint(undefined, { [CRI_ENDPOINT_ENV]: "/env.sock" }), "/env.sock");
    assert.equal(criEndpoint("/opt.sock", { [CRI_ENDPOINT_ENV]: "/env.sock" }), "/opt.sock");
    assert.equal(endpointPath("unix:///run/x.sock"), "/run/x.sock");
    assert.equal(endpointPath("/run/x.sock"), "/run/x.sock");
    assert.throws(
      () => endpointPath("tcp://127.0.0.1:1234"),
      /unsupported runtime endpoint "tcp:\/\/127.0.0.1:1234"/,
    );
    assert.throws(() => endpointPath("unix://relative.sock"), /needs an absolute socket path/);
  });

  test("usage mistakes are one line each", async () => {
    const cases: Array<[string[], string]> = [
      [["cri", "-r"], "berthctl: -r needs a socket: berthctl cri --runtime-endpoint SOCK <command>\n"],
      [
        ["cri", "--runtime-endpoint", "tcp://h:1", "version"],
        'berthctl: unsupported runtime endpoint "tcp://h:1": give a unix socket, as /run/berth/cri.sock or unix:///run/berth/cri.sock\n',
      ],
      [
        ["cri", "start"],
        "berthctl: cri start needs at least one CONTAINER-ID: berthctl cri start CONTAINER-ID...\n",
      ],
      [["cri", "logs"], "berthctl: cri logs needs a CONTAINER-ID: berthctl cri logs CONTAINER-ID\n"],
      [
        ["cri", "exec", "c1"],
        "berthctl: cri exec needs a command to run: berthctl cri exec c1 COMMAND [ARG...]\n",
      ],
      [
        ["cri", "exec", "-s", "-it", "c1", "sh"],
        "berthctl: -s runs the command through ExecSync, which has no stdin or terminal: leave out -s, or -i and -t\n",
      ],
      [["cri", "attach"], "berthctl: cri attach needs a CONTAINER-ID: berthctl cri attach CONTAINER-ID\n"],
      [
        ["cri", "port-forward", "p1"],
        "berthctl: cri port-forward needs a pod ID and at least one port: berthctl cri port-forward POD-ID [LOCAL:]REMOTE...\n",
      ],
      [
        ["cri", "port-forward", "p1", "http"],
        'berthctl: invalid port "http": use [LOCAL:]REMOTE, as 8080, 9090:80, or 0:80 for a free local port\n',
      ],
      [["cri", "ps", "-o", "xml"], 'berthctl: unknown output format "xml": use -o table or -o json\n'],
      [
        ["cri", "pods", "--state", "up"],
        'berthctl: unknown pod state "up": use --state ready or --state notready\n',
      ],
      [["cri", "pods", "--frob"], "berthctl: unknown option '--frob': see 'berthctl cri pods --help'\n"],
      [
        ["cri", "create", "p1", "c.yaml"],
        "berthctl: cri create takes a pod ID and two config files, got 2 argument(s): berthctl cri create POD-ID CONTAINER-CONFIG POD-CONFIG\n",
      ],
      [
        ["cri", "stop", "-t", "soon", "c1"],
        'berthctl: --timeout takes a whole number, not "soon": e.g. --timeout 10\n',
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = await berthctl(["--address", "/nonexistent.sock", ...args], {
        [CRI_ENDPOINT_ENV]: "/nonexistent/cri.sock",
      });
      assert.equal(r.code, 1, args.join(" "));
      assert.equal(r.stderr, stderr);
    }
  });

  test("an unreachable runtime is one line saying what to do", async () => {
    const r = await berthctl(["cri", "--runtime-endpoint", "unix:///nonexistent/cri.sock", "version"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "berthctl: cannot reach the CRI runtime at /nonexistent/cri.sock (connect ENOENT): is berth-cri running? try --runtime-endpoint SOCK or set BERTH_CRI_ENDPOINT\n",
    );
    const fromEnv = await berthctl(["cri", "pods"], { [CRI_ENDPOINT_ENV]: "/nonexistent/env.sock" });
    assert.match(fromEnv.stderr, /^berthctl: cannot reach the CRI runtime at \/nonexistent\/env\.sock /);
  });

  test("the runtime's other failures say what it said and where to look", () => {
    const err = (code: Status, details: string) =>
      new ClientError("/runtime.v1.RuntimeService/StartContainer", code, details);
    assert.equal(
      describeCriFailure(err(Status.UNIMPLEMENTED, "no"), "/s"),
      "StartContainer: no: the runtime at /s does not support it; check its version",
    );
    assert.equal(
      describeCriFailure(err(Status.INTERNAL, "shim died\nbadly"), "/s"),
      "the runtime answered StartContainer: shim died badly: check the runtime's log (berth-cri's, for Berth)",
    );
    assert.match(
      describeCriFailure(err(Status.PERMISSION_DENIED, "x"), "/s"),
      /^no permission to use the CRI socket \/s/,
    );
  });
});

describe("commands against a fake runtime", () => {
  let dir: string;
  let socket: string;
  let server: Server;
  const now = BigInt(Date.now()) * 1_000_000n;
  const minutesAgo = (m: number) => now - BigInt(m) * 60_000_000_000n;
  const podId = "a".repeat(64);
  const containerId = "c".repeat(64);
  const seen: { containerFilter?: ContainerFilter | undefined } = {};

  let spentUrl = "";
  const streaming = createHttpServer((_req, res) => res.writeHead(404).end("404 page not found\n"));
  streaming.on("upgrade", (_req, socket: Socket) =>
    socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\n\r\n404 page not found\n"),
  );

  before(async () => {
    await new Promise<void>((r) => streaming.listen(0, "127.0.0.1", r));
    spentUrl = `http://127.0.0.1:${(streaming.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), "berthctl-cri-"));
    socket = join(dir, "cri.sock");
    const logPath = join(dir, "web.log");
    await writeFile(
      logPath,
      "2024-05-01T10:00:00Z stdout F hello\n2024-05-01T10:00:01Z stderr P oo\n2024-05-01T10:00:01Z stderr F ps\n",
    );
    const status = ContainerStatus.fromPartial({
      id: containerId,
      metadata: { name: "web", attempt: 0 },
      state: ContainerState.CONTAINER_RUNNING,
      createdAt: minutesAgo(5),
      startedAt: minutesAgo(4),
      image: { image: "registry.test/web:v1" },
      labels: { app: "web" },
      logPath,
    });
    server = createServer();
    server.add(
      RuntimeServiceDefinition,
      fake<RuntimeServiceImplementation>({
        version: async () => ({
          version: "0.1.0",
          runtimeName: "fake",
          runtimeVersion: "9.9",
          runtimeApiVersion: "v1",
        }),
        listPodSandbox: async () => ({
          items: [
            PodSandbox.fromPartial({
              id: "b".repeat(64),
              metadata: { name: "old", namespace: "kube-system", uid: "u1", attempt: 2 },
              state: PodSandboxState.SANDBOX_NOTREADY,
              createdAt: minutesAgo(120),
              runtimeHandler: "runc",
            }),
            PodSandbox.fromPartial({
              id: podId,
              metadata: { name: "web", namespace: "default", uid: "u2", attempt: 0 },
              state: PodSandboxState.SANDBOX_READY,
              createdAt: minutesAgo(5),
            }),
          ],
        }),
        listContainers: async (req) => {
          seen.containerFilter = req.filter;
          return {
            containers: [
              {
                id: containerId,
                podSandboxId: podId,
                metadata: { name: "web", attempt: 1 },
                image: { image: `sha256:${"d".repeat(64)}`, annotations: {} },
                imageRef: "",
                state: ContainerState.CONTAINER_RUNNING,
                createdAt: minutesAgo(3),
                labels: {},
                annotations: {},
              },
            ],
          };
        },
        containerStatus: async (req) => {
          if (!containerId.startsWith(req.containerId)) {
            throw new ServerError(Status.NOT_FOUND, `container "${req.containerId}" not found`);
          }
          return { status, info: req.verbose ? { info: JSON.stringify({ pid: 42, sandboxID: podId }) } : {} };
        },
        startContainer: async (req) => {
          throw new ServerError(Status.NOT_FOUND, `container "${req.containerId}" not found`);
        },
        // A URL the streaming server no longer knows, as after a minute.
        exec: async () => ({ url: `${spentUrl}/exec/spent` }),
        portForward: async (req) => {
          throw new ServerError(Status.NOT_FOUND, `sandbox "${req.podSandboxId}" not found`);
        },
        execSync: async (req) => ({
          stdout: Buffer.from(`ran ${req.cmd.join(" ")}\n`),
          stderr: Buffer.from("warned\n"),
          exitCode: 3,
        }),
      }),
    );
    server.add(
      ImageServiceDefinition,
      fake<ImageServiceImplementation>({
        listImages: async () => ({
          images: [
            Image.fromPartial({
              id: `sha256:${"e".repeat(64)}`,
              repoTags: ["registry.test/web:v1"],
              repoDigests: [`registry.test/web@sha256:${"f".repeat(64)}`],
              size: 1_234_567n,
            }),
          ],
        }),
      }),
    );
    await server.listen(`unix://${socket}`);
  });

  after(async () => {
    streaming.close();
    await server?.shutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const cri = (...args: string[]) => berthctl(["cri", "--runtime-endpoint", `unix://${socket}`, ...args]);

  test("version", async () => {
    const r = await cri("version");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      "Version:  0.1.0\nRuntimeName:  fake\nRuntimeVersion:  9.9\nRuntimeApiVersion:  v1\n",
    );
  });

  test("pods: newest first in crictl's columns; -q, --name, -o json", async () => {
    const r = await cri("pods");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      [
        "POD ID              CREATED             STATE               NAME                NAMESPACE           ATTEMPT             RUNTIME",
        "aaaaaaaaaaaaa       5 minutes ago       Ready               web                 default             0                   (default)",
        "bbbbbbbbbbbbb       2 hours ago         NotReady            old                 kube-system         2                   runc",
        "",
      ].join("\n"),
    );
    assert.equal((await cri("pods", "-q", "--name", "^we")).stdout, `${podId}\n`);
    const json = JSON.parse((await cri("pods", "-o", "json", "--namespace", "kube")).stdout);
    assert.equal(json.items.length, 1);
    assert.equal(json.items[0].state, "SANDBOX_NOTREADY");
    assert.equal(json.items[0].createdAt, String(minutesAgo(120)));
  });

  test("ps: running ones unless -a; image IDs cut short", async () => {
    const r = await cri("ps");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(seen.containerFilter?.state?.state, ContainerState.CONTAINER_RUNNING);
    assert.deepEqual(r.stdout.split("\n")[1]?.split(/\s{2,}/), [
      "ccccccccccccc",
      "ddddddddddddd",
      "3 minutes ago",
      "Running",
      "web",
      "1",
      "aaaaaaaaaaaaa",
    ]);
    await cri("ps", "-a", "--pod", podId);
    assert.equal(seen.containerFilter?.state, undefined);
    assert.equal(seen.containerFilter?.podSandboxId, podId);
  });

  test("images", async () => {
    const r = await cri("images");
    assert.equal(
      r.stdout,
      "IMAGE               TAG                 IMAGE ID            SIZE\nregistry.test/web   v1                  eeeeeeeeeeeee       1.23MB\n",
    );
    assert.equal((await cri("images", "-q")).stdout, `sha256:${"e".repeat(64)}\n`);
  });

  test("inspect: status and info by a prefix of the ID; an unknown ID says where to look", async () => {
    const r = await cri("inspect", "ccc");
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(doc), ["info", "status"]);
    assert.equal(doc.info.pid, 42);
    assert.equal(doc.status.state, "CONTAINER_RUNNING");
    assert.match(doc.status.createdAt, /^\d{4}-\d\d-\d\dT/);
    const missing = await cri("inspect", "zzz");
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, "berthctl: container zzz not found: see 'berthctl cri ps -a'\n");
  });

  test("start: each failure on its own line, then exit 1", async () => {
    const r = await cri("start", "x1", "x2");
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "berthctl: container x1 not found: see 'berthctl cri ps -a'\nberthctl: container x2 not found: see 'berthctl cri ps -a'\n",
    );
  });

  test("exec: output on its streams, the command's exit code", async () => {
    const r = await cri("exec", "-s", "ccc", "sh", "-c", "exit 3");
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "ran sh -c exit 3\n");
    assert.equal(r.stderr, "warned\n");
  });

  test("exec -t: a spent streaming URL says to run the command again", async () => {
    const r = await cri("exec", "-t", "ccc", "sh");
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `berthctl: the streaming server at ${spentUrl.slice("http://".length)} answered 404 (404 page not found): its URLs are single-use and expire within a minute: run the command again\n`,
    );
  });

  test("port-forward to a pod the runtime does not know", async () => {
    const r = await cri("port-forward", "nopod", "0:80");
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "berthctl: pod nopod not found: see 'berthctl cri pods'\n");
  });

  test("logs: from the status's log path, stdout and stderr apart, pieces joined", async () => {
    const r = await cri("logs", "ccc");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hello\n");
    assert.equal(r.stderr, "oops\n");
    const t = await cri("logs", "--tail", "1", "-t", "ccc");
    assert.equal(t.stdout, "");
    assert.equal(t.stderr, "2024-05-01T10:00:01.000000000Z oops\n");
  });

  test("rm refuses a running container without -f", async () => {
    const r = await cri("rm", "ccc");
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "berthctl: container ccc is running: stop it first ('berthctl cri stop ccc'), or pass -f\n",
    );
  });

  test("a call the runtime does not have", async () => {
    const r = await cri("imagefsinfo");
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^berthctl: ImageFsInfo: imageFsInfo is not in the fake: the runtime at .* does not support it/,
    );
  });
});
