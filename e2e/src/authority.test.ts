// Any HTTP/2 :authority on the daemons' sockets, and gRPC's health service. Older grpc-go
// clients (kubelet's CRI client up to 1.26, crictl 1.26) send the socket path as the
// authority, newer ones `localhost` or the path percent-encoded; containerd takes them all.
// The same calls go to berthd and berth-cri and to containerd 1.6 (its CRI plugin on):
// from node:http2 with each authority, from grpcurl and grpc_health_probe (grpc-go), and
// from crictl.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ListContentResponse, ReadContentResponse } from "@berth/api/containerd/services/content/v1/content";
import { ReadContentRequest } from "@berth/api/containerd/services/content/v1/content";
import { VersionResponse as ContainerdVersion } from "@berth/api/containerd/services/version/v1/version";
import { VersionResponse as CriVersion, VersionRequest } from "@berth/api/cri/runtime/v1/api";
import { execa } from "execa";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type DaemonUnderTest, repoRoot, startBerthdDaemon } from "./daemons.js";
import { type Containerd, startContainerd } from "./fixtures/containerd.js";
import { ctrOk } from "./fixtures/ctr.js";
import { peerTool } from "./fixtures/peers.js";
import { removeDir, tempDir } from "./fixtures/tmp.js";
import { sha256 } from "./grpc.js";

const NAMESPACE = "authority";
const blob = randomBytes(300_000);
const digest = sha256(blob);

interface Stack {
  kind: "berthd" | "containerd";
  /** The containerd v1 API socket. */
  api: string;
  /** The CRI socket (berth-cri's, or containerd's own). */
  cri: string;
  /** What CRI Version calls the runtime. */
  runtimeName: string;
}

let berthd: DaemonUnderTest;
let berthCri: BerthCriUnderTest;
let containerd: Containerd;
let cniDir: string;
const stacks: Stack[] = [];

before(async () => {
  berthd = await startBerthdDaemon();
  cniDir = await tempDir("authority-cni-");
  berthCri = await startBerthCri({
    containerdAddress: berthd.address,
    runtime: "io.containerd.berth.v2",
    cniConfDir: cniDir,
    sandboxImage: "registry.k8s.io/pause:3.9",
  });
  containerd = await startContainerd({ cri: { cniConfDir: cniDir } });
  stacks.push(
    { kind: "berthd", api: berthd.address, cri: berthCri.address, runtimeName: "berth" },
    { kind: "containerd", api: containerd.address, cri: containerd.address, runtimeName: "containerd" },
  );
  for (const s of stacks) {
    await ctrOk(s.api, ["content", "ingest", "--expected-digest", digest, `authority-${process.pid}`], {
      namespace: NAMESPACE,
      input: blob,
    });
  }
});
after(async () => {
  await berthCri?.remove();
  await berthd?.stop();
  await containerd?.stop();
  if (cniDir !== undefined) await removeDir(cniDir);
});

interface Reply {
  /** grpc-status, or undefined when the stream was reset before any. */
  grpcStatus: string | undefined;
  messages: Buffer[];
  /** The RST_STREAM code when the server refused the stream. */
  rstCode: number;
}

/** One gRPC call over node:http2 with the given :authority, as grpc-go writes it. */
function rawCall(
  socket: string,
  path: string,
  authority: string,
  message: Uint8Array = new Uint8Array(),
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(socket) });
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": path,
      ":authority": authority,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    req.end(Buffer.concat([prefix, message]));
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on("response", (h) => {
      if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
    });
    req.on("trailers", (t) => {
      grpcStatus = String(t["grpc-status"]);
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => undefined);
    req.setTimeout(20_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    req.on("close", () => {
      const body = Buffer.concat(chunks);
      const messages: Buffer[] = [];
      for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) {
        messages.push(body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)));
      }
      session.close();
      resolve({ grpcStatus, messages, rstCode: req.rstCode ?? 0 });
    });
  });
}

const variants = (socket: string) => [
  { name: "the socket path", authority: socket },
  { name: "the path percent-encoded", authority: encodeURIComponent(socket) },
  { name: "empty", authority: "" },
  { name: "localhost", authority: "localhost" },
];

const describeReply = (r: Reply) =>
  `grpc-status ${r.grpcStatus ?? "none"}, RST_STREAM ${r.rstCode}, ${r.messages.length} message(s)`;

for (const kind of ["berthd", "containerd"] as const) {
  describe(`node:http2 calls with any :authority on ${kind}`, { timeout: 120_000 }, () => {
    const stack = () => stacks.find((s) => s.kind === kind) as Stack;

    test("unary: Version", async () => {
      for (const { name, authority } of variants(stack().api)) {
        const r = await rawCall(stack().api, "/containerd.services.version.v1.Version/Version", authority);
        assert.equal(r.grpcStatus, "0", `${name}: ${describeReply(r)}`);
        assert.match(ContainerdVersion.decode(r.messages[0] ?? Buffer.alloc(0)).version, /\S/, name);
      }
    });

    test("server streaming: Content.Read and Content.List", async () => {
      const ns = { "containerd-namespace": NAMESPACE };
      for (const { name, authority } of variants(stack().api)) {
        const read = await rawCall(
          stack().api,
          "/containerd.services.content.v1.Content/Read",
          authority,
          ReadContentRequest.encode({ digest, offset: 0, size: 0 }).finish(),
          ns,
        );
        assert.equal(read.grpcStatus, "0", `${name}: ${describeReply(read)}`);
        const data = Buffer.concat(read.messages.map((m) => ReadContentResponse.decode(m).data));
        assert.ok(data.equals(blob), `${name}: Read gives the blob back (${data.length} octets)`);
        const list = await rawCall(
          stack().api,
          "/containerd.services.content.v1.Content/List",
          authority,
          undefined,
          ns,
        );
        assert.equal(list.grpcStatus, "0", `${name}: ${describeReply(list)}`);
        const digests = list.messages.flatMap((m) => ListContentResponse.decode(m).info.map((i) => i.digest));
        assert.ok(digests.includes(digest), `${name}: List names the blob (${digests.join(", ")})`);
      }
    });

    test("CRI Version", async () => {
      const s = stack();
      for (const { name, authority } of variants(s.cri)) {
        const r = await rawCall(
          s.cri,
          "/runtime.v1.RuntimeService/Version",
          authority,
          VersionRequest.encode({ version: "v1" }).finish(),
        );
        assert.equal(r.grpcStatus, "0", `${name}: ${describeReply(r)}`);
        assert.equal(CriVersion.decode(r.messages[0] ?? Buffer.alloc(0)).runtimeName, s.runtimeName, name);
      }
    });
  });
}

async function grpcurl(
  socket: string,
  authority: string,
  proto: string,
  method: string,
  args: string[] = [],
) {
  const r = await execa(
    peerTool("grpcurl", "v1.9.4"),
    [
      "-unix",
      "-plaintext",
      "-max-time",
      "20",
      "-authority",
      authority,
      "-import-path",
      join(repoRoot, "protos"),
      "-proto",
      proto,
      ...args,
      socket,
      method,
    ],
    { reject: false, timeout: 30_000 },
  );
  assert.equal(r.exitCode, 0, `grpcurl -authority ${authority} ${method}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** grpcurl prints each response message as a JSON object, one after the other. */
const jsonObjects = (out: string): Array<Record<string, unknown>> =>
  JSON.parse(`[${out.trim().replace(/}\s*{/g, "},{")}]`) as Array<Record<string, unknown>>;

for (const kind of ["berthd", "containerd"] as const) {
  describe(`grpcurl (grpc-go) with -authority on ${kind}`, { timeout: 180_000 }, () => {
    const stack = () => stacks.find((s) => s.kind === kind) as Stack;
    const grpcVariants = (socket: string) => variants(socket).filter((v) => v.authority !== "");
    const ns = ["-H", `containerd-namespace: ${NAMESPACE}`];

    test("Version, Namespaces.List and the streaming Content.List", async () => {
      const s = stack();
      for (const { authority } of grpcVariants(s.api)) {
        const [version] = jsonObjects(
          await grpcurl(
            s.api,
            authority,
            "containerd/services/version/v1/version.proto",
            "containerd.services.version.v1.Version/Version",
          ),
        );
        assert.match(String(version?.version), /\S/);
        const [namespaces] = jsonObjects(
          await grpcurl(
            s.api,
            authority,
            "containerd/services/namespaces/v1/namespace.proto",
            "containerd.services.namespaces.v1.Namespaces/List",
          ),
        );
        const names = (namespaces?.namespaces as Array<{ name: string }>).map((n) => n.name);
        assert.ok(names.includes(NAMESPACE), `${authority}: namespaces ${names.join(", ")}`);
        const listed = jsonObjects(
          await grpcurl(
            s.api,
            authority,
            "containerd/services/content/v1/content.proto",
            "containerd.services.content.v1.Content/List",
            ns,
          ),
        ).flatMap((m) => (m.info as Array<{ digest: string }>).map((i) => i.digest));
        assert.ok(listed.includes(digest), `${authority}: content ${listed.join(", ")}`);
      }
    });

    test("CRI runtime.v1 Version", async () => {
      const s = stack();
      for (const { authority } of grpcVariants(s.cri)) {
        const [v] = jsonObjects(
          await grpcurl(s.cri, authority, "cri/runtime/v1/api.proto", "runtime.v1.RuntimeService/Version", [
            "-d",
            '{"version":"v1"}',
          ]),
        );
        assert.equal(v?.runtimeName, s.runtimeName, authority);
        assert.equal(v?.runtimeApiVersion, "v1", authority);
      }
    });

    test("grpc.health.v1.Health: Check and Watch", async () => {
      const s = stack();
      for (const socket of [...new Set([s.api, s.cri])]) {
        const [check] = jsonObjects(
          await grpcurl(socket, "localhost", "grpc/health/v1/health.proto", "grpc.health.v1.Health/Check"),
        );
        assert.equal(check?.status, "SERVING", socket);
        // Watch stays open: its first message is the status, then grpcurl's -max-time ends it.
        const watch = await execa(
          peerTool("grpcurl", "v1.9.4"),
          [
            "-unix",
            "-plaintext",
            "-max-time",
            "2",
            "-import-path",
            join(repoRoot, "protos"),
            "-proto",
            "grpc/health/v1/health.proto",
            socket,
            "grpc.health.v1.Health/Watch",
          ],
          { reject: false, timeout: 30_000 },
        );
        assert.match(watch.stdout, /"status": "SERVING"/, `${socket}: ${watch.stderr}`);
        // grpcurl reports the end it forced as DeadlineExceeded or Canceled, by server.
        assert.notEqual(watch.exitCode, 0, "Watch was still open when grpcurl stopped it");
        assert.match(
          watch.stderr,
          /DeadlineExceeded|Canceled/,
          "Watch was still open when grpcurl stopped it",
        );
        const unknown = await execa(
          peerTool("grpcurl", "v1.9.4"),
          [
            "-unix",
            "-plaintext",
            "-import-path",
            join(repoRoot, "protos"),
            "-proto",
            "grpc/health/v1/health.proto",
            "-d",
            '{"service":"no.such.Service"}',
            socket,
            "grpc.health.v1.Health/Check",
          ],
          { reject: false, timeout: 30_000 },
        );
        assert.match(unknown.stdout + unknown.stderr, /Code: NotFound/, `${socket}: unknown service`);
      }
    });
  });
}

describe("grpc_health_probe", { timeout: 60_000 }, () => {
  test("berthd, berth-cri and containerd are SERVING", async () => {
    for (const [name, socket] of [
      ["berthd", berthd.address],
      ["berth-cri", berthCri.address],
      ["containerd", containerd.address],
    ] as const) {
      const r = await execa(peerTool("grpc_health_probe", "v0.4.63"), ["-addr", `unix://${socket}`], {
        reject: false,
        timeout: 30_000,
      });
      assert.equal(r.exitCode, 0, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, /status: SERVING/, name);
    }
  });

  test("an unknown service fails the probe the same way on every daemon", async () => {
    const codes: Record<string, number | undefined> = {};
    for (const [name, socket] of [
      ["berthd", berthd.address],
      ["berth-cri", berthCri.address],
      ["containerd", containerd.address],
    ] as const) {
      const r = await execa(
        peerTool("grpc_health_probe", "v0.4.63"),
        ["-addr", `unix://${socket}`, "-service", "no.such.Service"],
        { reject: false, timeout: 30_000 },
      );
      assert.match(r.stdout + r.stderr, /NotFound/, name);
      codes[name] = r.exitCode;
    }
    assert.notEqual(codes.containerd, 0);
    assert.deepEqual(codes, {
      berthd: codes.containerd,
      "berth-cri": codes.containerd,
      containerd: codes.containerd,
    });
  });
});

describe("crictl v1.34.0 version", { timeout: 60_000 }, () => {
  for (const kind of ["berthd", "containerd"] as const) {
    test(kind === "berthd" ? "berth-cri on berthd" : "containerd's CRI plugin", async () => {
      const s = stacks.find((x) => x.kind === kind) as Stack;
      const r = await execa(
        peerTool("crictl", "v1.34.0"),
        ["--runtime-endpoint", `unix://${s.cri}`, "--timeout", "20s", "version"],
        { reject: false, timeout: 30_000 },
      );
      assert.equal(r.exitCode, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`RuntimeName:\\s+${s.runtimeName}\\b`));
      assert.match(r.stdout, /RuntimeApiVersion:\s+v1/);
    });
  }
});
