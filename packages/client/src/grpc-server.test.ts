import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import http2 from "node:http2";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Envelope, EventsDefinition } from "@berth/api/containerd/services/events/v1/events";
import { VersionDefinition, VersionResponse } from "@berth/api/containerd/services/version/v1/version";
import { createChannel, createClient, createServer } from "nice-grpc";
import { notFound } from "./errdefs.js";
import { FLOW_CONTROL_WINDOW_BYTES, GrpcServer } from "./grpc-server.js";
import { errorMiddleware } from "./server.js";

const dir = mkdtempSync(join(tmpdir(), "grpc-server-"));
const socket = join(dir, "grpc.sock");
const seen: string[] = [];
const connectionErrors: string[] = [];
/** Subscriptions stay open after their two events until cancelled. */
let holdSubscriptions = false;

function newServer() {
  const server = new GrpcServer({
    middleware: [
      async function* <Req, Res>(
        call: import("nice-grpc-common").ServerMiddlewareCall<Req, Res>,
        context: import("nice-grpc-common").CallContext,
      ) {
        seen.push(call.method.path);
        return yield* call.next(call.request, context);
      },
      errorMiddleware({ error: () => undefined }),
    ],
    onConnectionError: (m) => connectionErrors.push(m),
  });
  server.add(VersionDefinition, { version: async () => ({ version: "v9", revision: "r" }) });
  server.add(EventsDefinition, {
    publish: async () => ({}),
    forward: async () => {
      throw notFound("no such thing");
    },
    async *subscribe(_req, { signal }) {
      yield { namespace: "a", topic: "/one" };
      yield { namespace: "b", topic: "/two" };
      if (holdSubscriptions) {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
      }
    },
  });
  return server;
}

let server: GrpcServer;
before(async () => {
  server = newServer();
  await server.listen(socket);
});
after(() => {
  server.forceShutdown();
  rmSync(dir, { recursive: true, force: true });
});

interface RawReply {
  grpcStatus: string | undefined;
  messages: Buffer[];
  rstCode?: number;
}

/** One gRPC call over node:http2 with a chosen :authority, as an old grpc-go client makes it. */
function rawCall(
  path: string,
  method: string,
  authority: string,
  message = Buffer.alloc(0),
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect("http://localhost", { createConnection: () => net.connect(path) });
    session.on("error", reject);
    const req = session.request({
      ":method": "POST",
      ":path": method,
      ":authority": authority,
      "content-type": "application/grpc",
      te: "trailers",
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
    req.on("close", () => {
      const body = Buffer.concat(chunks);
      const messages: Buffer[] = [];
      for (let at = 0; at + 5 <= body.length; ) {
        const n = body.readUInt32BE(at + 1);
        messages.push(body.subarray(at + 5, at + 5 + n));
        at += 5 + n;
      }
      session.close();
      resolve({ grpcStatus, messages, ...(req.rstCode ? { rstCode: req.rstCode } : {}) });
    });
  });
}

const authorities = [socket, encodeURIComponent(socket), "", "localhost"];

for (const authority of authorities) {
  test(`unary and server-streaming calls with :authority ${JSON.stringify(authority)}`, async () => {
    const v = await rawCall(socket, "/containerd.services.version.v1.Version/Version", authority);
    assert.equal(v.grpcStatus, "0");
    assert.equal(VersionResponse.decode(v.messages[0] as Buffer).version, "v9");
    const s = await rawCall(socket, "/containerd.services.events.v1.Events/Subscribe", authority);
    assert.equal(s.grpcStatus, "0");
    assert.deepEqual(
      s.messages.map((m) => Envelope.decode(m).topic),
      ["/one", "/two"],
    );
  });
}

test("a grpc-js server listening itself refuses a socket path as :authority (what this server is for)", async () => {
  const plainSocket = join(dir, "plain.sock");
  const plain = createServer();
  plain.add(VersionDefinition, { version: async () => ({ version: "v9", revision: "r" }) });
  await plain.listen(`unix://${plainSocket}`);
  try {
    const refused = await rawCall(
      plainSocket,
      "/containerd.services.version.v1.Version/Version",
      plainSocket,
    );
    assert.equal(refused.rstCode, http2.constants.NGHTTP2_PROTOCOL_ERROR);
    assert.equal(refused.grpcStatus, undefined);
    const ok = await rawCall(plainSocket, "/containerd.services.version.v1.Version/Version", "localhost");
    assert.equal(ok.grpcStatus, "0");
  } finally {
    plain.forceShutdown();
  }
});

test("nice-grpc clients, middleware and error kinds work as with nice-grpc's server", async () => {
  const channel = createChannel(`unix://${socket}`);
  try {
    const version = createClient(VersionDefinition, channel);
    assert.equal((await version.version({})).version, "v9");
    const events = createClient(EventsDefinition, channel);
    await assert.rejects(events.forward({}), (err: { code?: number; details?: string }) => {
      assert.equal(err.code, 5);
      assert.equal(err.details, "no such thing");
      return true;
    });
    assert.ok(seen.includes("/containerd.services.events.v1.Events/Forward"));
  } finally {
    channel.close();
  }
});

test("the server's receive windows are widened: per stream in its SETTINGS, and the connection's", async () => {
  const session = http2.connect("http://localhost", { createConnection: () => net.connect(socket) });
  try {
    const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
    assert.equal(settings.initialWindowSize, FLOW_CONTROL_WINDOW_BYTES);
    // The connection's window comes as a WINDOW_UPDATE right after the settings.
    const deadline = Date.now() + 2_000;
    while ((session.state.remoteWindowSize ?? 0) < FLOW_CONTROL_WINDOW_BYTES && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(session.state.remoteWindowSize, FLOW_CONTROL_WINDOW_BYTES);
  } finally {
    session.destroy();
  }
});

test("the socket is mode 0660", () => {
  assert.equal(statSync(socket).mode & 0o777, 0o660);
});

test("a malformed header block closes that connection with GOAWAY, the server goes on", async () => {
  const before = connectionErrors.length;
  const raw = net.connect(socket);
  // The preface, empty SETTINGS, HEADERS whose block names index 62 (no such entry).
  raw.write(
    Buffer.concat([
      Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1"),
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
      Buffer.from([0, 0, 1, 1, 5, 0, 0, 0, 1, 0xbe]),
    ]),
  );
  const got: Buffer[] = [];
  raw.on("data", (d: Buffer) => got.push(d));
  await new Promise((resolve) => raw.on("close", resolve));
  const data = Buffer.concat(got);
  let goaway: number | undefined;
  for (let at = 0; at + 9 <= data.length; at += 9 + data.readUIntBE(at, 3)) {
    if (data[at + 3] === 7) goaway = data.readUInt32BE(at + 13);
  }
  assert.equal(goaway, http2.constants.NGHTTP2_COMPRESSION_ERROR);
  assert.equal(connectionErrors.length, before + 1);
  assert.match(connectionErrors.at(-1) ?? "", /index 62/);
  const v = await rawCall(socket, "/containerd.services.version.v1.Version/Version", socket);
  assert.equal(v.grpcStatus, "0");
});

test("shutdown lets calls finish, and cancels those left after the grace", async () => {
  const path = join(dir, "shutdown.sock");
  const s = newServer();
  await s.listen(path);
  const channel = createChannel(`unix://${path}`);
  const events = createClient(EventsDefinition, channel);
  holdSubscriptions = true;
  const topics: string[] = [];
  const subscription = (async () => {
    for await (const e of events.subscribe({})) topics.push(e.topic);
  })().then(
    () => "ended",
    (err: { code?: number }) => err.code,
  );
  while (topics.length < 2) await new Promise((r) => setTimeout(r, 10));
  const started = Date.now();
  await s.shutdown(300);
  holdSubscriptions = false;
  assert.ok(Date.now() - started >= 250, "waited for the grace");
  assert.ok([1, 14].includes((await subscription) as number), "the subscription is cancelled");
  channel.close();
  const refused = await new Promise<string>((resolve) => {
    const c = net.connect(path);
    c.on("connect", () => resolve("connected"));
    c.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? ""));
  });
  assert.match(refused, /ENOENT|ECONNREFUSED/, "no longer listening");
});
