import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rename, rm, stat, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout } from "node:timers/promises";
import { VersionDefinition, VersionResponse } from "@berth/api/containerd/services/version/v1/version";
import { Request, Response } from "@berth/api/ttrpc/ttrpc";
import { TtrpcClient, createTtrpcClient } from "./client.js";
import { FrameParser, MAX_PAYLOAD_LENGTH, MessageType, encodeFrame, encodeHeader } from "./frame.js";
import { namespaceMetadata } from "./metadata.js";
import { type CallContext, TtrpcServer } from "./server.js";
import { Code, TtrpcError } from "./status.js";

// A hand-made service reusing a generated message, to send requests with content.
const EchoDefinition = {
  name: "Echo",
  fullName: "berth.test.v1.Echo",
  methods: {
    echo: {
      name: "Echo",
      requestType: VersionResponse,
      requestStream: false,
      responseType: VersionResponse,
      responseStream: false,
      options: {},
    },
    follow: {
      name: "Follow",
      requestType: VersionResponse,
      requestStream: false,
      responseType: VersionResponse,
      responseStream: true,
      options: {},
    },
  },
} as const;

function isCode(code: number, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof TtrpcError, `expected a TtrpcError, got ${String(err)}`);
    assert.equal(err.code, code, `code ${err.code} (${err.message})`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  };
}

/** A promise with its resolve function, to wait until a handler has started. */
function signalled(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return setTimeout(ms);
}

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-ttrpc-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let sockets = 0;
function socketPath(): string {
  return join(dir, `s${++sockets}.sock`);
}

/** Sends raw frames on a fresh connection and collects `expect` responses in arrival order. */
async function rawExchange(path: string, frames: Buffer[], expect: number): Promise<[number, Response][]> {
  const socket = net.createConnection({ path });
  await once(socket, "connect");
  const responses: [number, Response][] = [];
  const done = new Promise<void>((resolve) => {
    const parser = new FrameParser({
      onFrame: (header, payload) => {
        assert.equal(header.type, MessageType.RESPONSE);
        responses.push([header.streamId, Response.decode(payload)]);
        if (responses.length === expect) resolve();
      },
      onOversized: () => assert.fail("oversized response"),
    });
    socket.on("data", (chunk: Buffer) => parser.push(chunk));
  });
  for (const frame of frames) socket.write(frame);
  await done;
  socket.destroy();
  return responses;
}

/** Runs an ES module script in a child node; resolves once it prints "ready". */
async function spawnNode(script: string, stdio3?: number) {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit", ...(stdio3 === undefined ? [] : [stdio3])],
  });
  assert.ok(child.stdout);
  const [line] = (await once(child.stdout, "data")) as [Buffer];
  assert.equal(line.toString().trim(), "ready");
  return child;
}

describe("ttrpc server and client over a unix socket", () => {
  let path: string;
  const server = new TtrpcServer();
  const seen: {
    namespace: string | undefined;
    metadata: Map<string, string[]>;
    deadline: number | undefined;
  }[] = [];
  let slowAborted: unknown;
  let client: TtrpcClient;

  before(async () => {
    server.register(VersionDefinition, {
      async version(_request, ctx: CallContext) {
        seen.push({ namespace: ctx.namespace, metadata: ctx.metadata, deadline: ctx.deadline });
        return { version: "1.6.20-berth", revision: "abc" };
      },
    });
    server.register(EchoDefinition, {
      async echo(request, ctx) {
        switch (request.revision) {
          case "delay":
            await sleep(Number(request.version));
            return request;
          case "fail-code":
            throw Object.assign(new Error("no such container"), { code: Code.NOT_FOUND });
          case "fail-ttrpc":
            throw new TtrpcError(Code.FAILED_PRECONDITION, "task must be stopped");
          case "fail-plain":
            throw new Error("plain failure");
          case "wait-signal":
            await new Promise((_resolve, reject) => {
              ctx.signal.addEventListener("abort", () => {
                slowAborted = ctx.signal.reason;
                reject(new Error("gave up"));
              });
            });
            return {};
          case "sleep-signal":
            await setTimeout(10_000, undefined, { signal: ctx.signal });
            return {};
          case "huge":
            return { version: "x".repeat(MAX_PAYLOAD_LENGTH) };
          case "empty":
            return undefined;
          default:
            return request;
        }
      },
    });
    path = socketPath();
    await server.listen(path);
    client = await TtrpcClient.connect(path);
  });

  after(async () => {
    client.close();
    await server.close();
  });

  it("makes the socket 0660", async () => {
    const info = await stat(path);
    assert.ok(info.isSocket());
    assert.equal(info.mode & 0o777, 0o660);
  });

  it("answers a typed unary call with metadata and namespace", async () => {
    const version = createTtrpcClient(VersionDefinition, client, {
      defaultMetadata: namespaceMetadata("k8s.io"),
    });
    const response = await version.version({}, { metadata: { "X-Trace": ["a", "b"] } });
    assert.deepEqual(response, { version: "1.6.20-berth", revision: "abc" });
    const last = seen.at(-1);
    assert.equal(last?.namespace, "k8s.io");
    assert.deepEqual(last?.metadata.get("x-trace"), ["a", "b"]);
    assert.equal(last?.deadline, undefined);

    await version.version({}, { metadata: namespaceMetadata("other"), timeoutMs: 5000 });
    assert.equal(seen.at(-1)?.namespace, "other", "a call's metadata replaces the default for the same key");
    const deadline = seen.at(-1)?.deadline;
    assert.ok(deadline !== undefined && deadline > Date.now() && deadline <= Date.now() + 5000);
  });

  it("serves many concurrent calls on one connection, each answered on its own stream", async () => {
    const echo = createTtrpcClient(EchoDefinition, client);
    // Later calls finish first, so responses come back out of order.
    const calls = Array.from({ length: 50 }, (_, i) =>
      echo.echo({ version: String(50 - i), revision: "delay" }),
    );
    const results = await Promise.all(calls);
    assert.deepEqual(
      results.map((r) => r.version),
      Array.from({ length: 50 }, (_, i) => String(50 - i)),
    );
  });

  it("sends an empty message when a handler returns nothing", async () => {
    const echo = createTtrpcClient(EchoDefinition, client);
    assert.deepEqual(await echo.echo({ revision: "empty" }), { version: "", revision: "" });
  });

  it("answers UNIMPLEMENTED for an unknown service or method, and for streaming methods", async () => {
    const empty = new Uint8Array(0);
    await assert.rejects(
      client.call("no.such.Service", "Version", empty),
      isCode(Code.UNIMPLEMENTED, /service/),
    );
    await assert.rejects(
      client.call("containerd.services.version.v1.Version", "Nope", empty),
      isCode(Code.UNIMPLEMENTED, /method Nope/),
    );
    await assert.rejects(client.call(EchoDefinition.fullName, "Follow", empty), isCode(Code.UNIMPLEMENTED));
  });

  it("propagates a handler's error code, and UNKNOWN for plain errors", async () => {
    const echo = createTtrpcClient(EchoDefinition, client);
    await assert.rejects(echo.echo({ revision: "fail-code" }), isCode(Code.NOT_FOUND, /^no such container$/));
    await assert.rejects(echo.echo({ revision: "fail-ttrpc" }), isCode(Code.FAILED_PRECONDITION));
    await assert.rejects(echo.echo({ revision: "fail-plain" }), isCode(Code.UNKNOWN, /^plain failure$/));
    assert.deepEqual(await echo.echo({ version: "still fine" }), { version: "still fine", revision: "" });
  });

  it("honours timeouts: the client gives up and the handler's signal aborts", async () => {
    const echo = createTtrpcClient(EchoDefinition, client);
    const started = Date.now();
    await assert.rejects(
      echo.echo({ revision: "wait-signal" }, { timeoutMs: 100 }),
      isCode(Code.DEADLINE_EXCEEDED),
    );
    assert.ok(Date.now() - started < 2000);
    for (let i = 0; i < 50 && slowAborted === undefined; i++) await sleep(10);
    assert.ok(slowAborted instanceof TtrpcError && slowAborted.code === Code.DEADLINE_EXCEEDED);
    // The server's late answer on the abandoned stream is ignored.
    assert.deepEqual(await echo.echo({ version: "after timeout" }), {
      version: "after timeout",
      revision: "",
    });
  });

  it("reports the deadline as DEADLINE_EXCEEDED when a handler fails because of it", async () => {
    // Without a client-side timer: only the 50ms timeout sent on the wire is at work.
    const request = (revision: string) =>
      Request.encode({
        service: EchoDefinition.fullName,
        method: "Echo",
        payload: Buffer.from(VersionResponse.encode({ version: "", revision }).finish()),
        timeoutNano: 50_000_000,
        metadata: [],
      }).finish();
    const responses = await rawExchange(
      path,
      [
        encodeFrame(1, MessageType.REQUEST, 0, request("wait-signal")), // fails with a plain error
        encodeFrame(3, MessageType.REQUEST, 0, request("sleep-signal")), // fails with node's AbortError
      ],
      2,
    );
    assert.deepEqual(responses.map(([id, r]) => [id, r.status?.code]).sort(), [
      [1, Code.DEADLINE_EXCEEDED],
      [3, Code.DEADLINE_EXCEEDED],
    ]);
  });

  it("cancels a call through its AbortSignal", async () => {
    const echo = createTtrpcClient(EchoDefinition, client);
    const controller = new AbortController();
    const call = echo.echo({ version: "200", revision: "delay" }, { signal: controller.signal });
    controller.abort();
    await assert.rejects(call, isCode(Code.CANCELLED));
  });

  it("rejects oversized frames both ways with RESOURCE_EXHAUSTED", async () => {
    const echo = createTtrpcClient(EchoDefinition, client);
    await assert.rejects(
      echo.echo({ version: "x".repeat(MAX_PAYLOAD_LENGTH) }),
      isCode(Code.RESOURCE_EXHAUSTED, /exceed maximum message size of 4194304/),
    );
    await assert.rejects(echo.echo({ revision: "huge" }), isCode(Code.RESOURCE_EXHAUSTED));
    assert.deepEqual(await echo.echo({ version: "ok" }), { version: "ok", revision: "" });
  });

  it("answers protocol errors on the offending stream and keeps the connection", async () => {
    const length = MAX_PAYLOAD_LENGTH + 1;
    const good = (id: number) => encodeFrame(id, MessageType.REQUEST, 0, Buffer.from([0x0a, 1, 0x41])); // service "A": unknown
    const responses = await rawExchange(
      path,
      [
        encodeHeader({ length, streamId: 1, type: MessageType.REQUEST, flags: 0 }),
        Buffer.alloc(length),
        good(3),
        encodeFrame(4, MessageType.REQUEST, 0, Buffer.alloc(0)),
        encodeFrame(5, MessageType.DATA, 0, Buffer.alloc(0)),
        good(3),
        encodeFrame(9, MessageType.REQUEST, 0, Buffer.from([0xff])),
      ],
      6,
    );
    const got = responses.map(([id, r]) => [id, r.status?.code, r.status?.message]);
    assert.deepEqual(got, [
      [
        1,
        Code.RESOURCE_EXHAUSTED,
        `message length ${length} exceed maximum message size of ${MAX_PAYLOAD_LENGTH}`,
      ],
      [3, Code.UNIMPLEMENTED, "service A"],
      [4, Code.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams"],
      [5, Code.INVALID_ARGUMENT, "StreamID is no longer active"],
      [3, Code.INVALID_ARGUMENT, "StreamID cannot be re-used and must increment"],
      [9, Code.INVALID_ARGUMENT, got[5]?.[2]],
    ]);
    assert.match(String(got[5]?.[2]), /^unmarshal request error/);
  });
});

describe("server lifecycle", () => {
  it("removes a stale socket file, refuses to remove anything else", async () => {
    const stale = socketPath();
    // A listener killed outright leaves its socket file behind.
    const dead = await spawnNode(
      `import net from "node:net"; net.createServer().listen(${JSON.stringify(stale)}, () => console.log("ready"));`,
    );
    dead.kill("SIGKILL");
    await once(dead, "exit");
    assert.ok((await stat(stale)).isSocket());
    const server = new TtrpcServer();
    server.register(VersionDefinition, { version: async () => ({ version: "fresh" }) });
    await server.listen(stale);
    const client = await TtrpcClient.connect(stale);
    assert.equal((await createTtrpcClient(VersionDefinition, client).version({})).version, "fresh");
    client.close();
    await server.close();

    const regular = join(dir, "not-a-socket");
    await writeFile(regular, "data");
    await assert.rejects(new TtrpcServer().listen(regular), /not a socket/);
  });

  it("close() waits for calls in flight and sends their responses", async () => {
    const path = socketPath();
    const server = new TtrpcServer();
    const started = signalled();
    server.register(EchoDefinition, {
      async echo(request) {
        started.resolve();
        await sleep(100);
        return request;
      },
    });
    await server.listen(path);
    const client = await TtrpcClient.connect(path);
    const echo = createTtrpcClient(EchoDefinition, client);
    const inFlight = echo.echo({ version: "drained" });
    await started.promise;
    await server.close();
    assert.deepEqual(await inFlight, { version: "drained", revision: "" });
    await client.closed;
    await assert.rejects(echo.echo({}), isCode(Code.UNAVAILABLE));
    await assert.rejects(TtrpcClient.connect(path), isCode(Code.UNAVAILABLE, /connect/));
  });

  it("shutdown() rejects in-flight calls with UNAVAILABLE and aborts handlers", async () => {
    const path = socketPath();
    const server = new TtrpcServer();
    let reason: unknown;
    let started = 0;
    const allStarted = signalled();
    server.register(EchoDefinition, {
      echo(_request, ctx) {
        if (++started === 3) allStarted.resolve();
        return new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => {
            reason = ctx.signal.reason;
            reject(ctx.signal.reason);
          });
        });
      },
    });
    await server.listen(path);
    const client = await TtrpcClient.connect(path);
    const echo = createTtrpcClient(EchoDefinition, client);
    const calls = [echo.echo({}), echo.echo({}), echo.echo({})];
    await allStarted.promise;
    server.shutdown();
    for (const call of calls) await assert.rejects(call, isCode(Code.UNAVAILABLE, /connection closed/));
    assert.ok(reason instanceof TtrpcError && reason.code === Code.CANCELLED);
    assert.equal(client.isClosed, true);
  });

  it("rejects in-flight calls when the peer process dies", async () => {
    const path = socketPath();
    // A peer that accepts a request and then vanishes without answering.
    const peer = net.createServer((socket) => socket.once("data", () => socket.destroy()));
    await new Promise<void>((resolve) => peer.listen(path, resolve));
    const client = await TtrpcClient.connect(path);
    await assert.rejects(client.call("a.B", "C", new Uint8Array(0)), isCode(Code.UNAVAILABLE));
    peer.close();
  });

  it("connect() honours an aborted signal", async () => {
    await assert.rejects(
      TtrpcClient.connect(socketPath(), { signal: AbortSignal.abort() }),
      isCode(Code.CANCELLED),
    );
  });

  it("listens on an inherited descriptor, as a shim does", async () => {
    const path = socketPath();
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(path, resolve));
    const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
    const server = new URL("./server.js", import.meta.url).href;
    const version = import.meta.resolve("@berth/api/containerd/services/version/v1/version");
    const child = await spawnNode(
      `import { TtrpcServer } from ${JSON.stringify(server)};
       import { VersionDefinition } from ${JSON.stringify(version)};
       const server = new TtrpcServer().register(VersionDefinition, { version: async () => ({ version: "fd" }) });
       await server.listen({ fd: 3 });
       console.log("ready");`,
      fd,
    );
    try {
      // Our copy of the listener goes; closing it unlinks its path, so keep the socket under another name.
      const moved = socketPath();
      await rename(path, moved);
      await new Promise((resolve) => listener.close(resolve));
      const client = await TtrpcClient.connect(moved);
      assert.equal((await createTtrpcClient(VersionDefinition, client).version({})).version, "fd");
      client.close();
    } finally {
      child.kill();
    }
  });
});
