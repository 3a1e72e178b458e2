import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import zlib from "node:zlib";
import { SPDY3_DICTIONARY } from "./dictionary.js";
import { encodeHeaderBlock } from "./headers.js";
import { SpdySession, type SpdyStream, readToEnd } from "./session.js";

// A raw client: frames by hand, header blocks through Node's zlib.

function control(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE((0x80030000 | type) >>> 0, 0);
  h.writeUInt32BE(((flags << 24) | body.length) >>> 0, 4);
  return Buffer.concat([h, body]);
}

function data(id: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(id, 0);
  h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

interface RawFrame {
  control: boolean;
  type: number;
  id: number;
  flags: number;
  body: Buffer;
}

/** Both ends of a TCP connection on the loopback. */
async function socketPair(): Promise<{ client: net.Socket; server: net.Socket }> {
  const listener = net.createServer();
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  const port = (listener.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => listener.once("connection", r));
  const client = net.connect(port, "127.0.0.1");
  const server = await accepted;
  listener.close();
  return { client, server };
}

async function setup(onStream: (s: SpdyStream) => void) {
  const { client, server: socket } = await socketPair();
  const session = new SpdySession(socket, Buffer.alloc(0), { role: "server", onStream });
  const frames: RawFrame[] = [];
  let buf = Buffer.alloc(0);
  client.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 8 && buf.length >= 8 + (buf.readUInt32BE(4) & 0xffffff)) {
      const length = buf.readUInt32BE(4) & 0xffffff;
      const isControl = (buf[0]! & 0x80) !== 0;
      const body = buf.subarray(8, 8 + length);
      frames.push({
        control: isControl,
        type: isControl ? buf.readUInt16BE(2) : 0,
        id: isControl ? (length >= 4 ? body.readUInt32BE(0) & 0x7fffffff : 0) : buf.readUInt32BE(0),
        flags: buf[4]!,
        body: Buffer.from(body),
      });
      buf = buf.subarray(8 + length);
    }
  });
  const deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  const out: Buffer[] = [];
  deflate.on("data", (c: Buffer) => out.push(c));
  const compress = (b: Buffer) =>
    new Promise<Buffer>((resolve) => {
      deflate.write(b);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(out.splice(0))));
    });
  const open = async (id: number, headers: Record<string, string>) => {
    const block = await compress(
      encodeHeaderBlock(new Map(Object.entries(headers).map(([k, v]) => [k, [v]]))),
    );
    const fixed = Buffer.alloc(10);
    fixed.writeUInt32BE(id, 0);
    client.write(control(1, 0, Buffer.concat([fixed, block])));
  };
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(check(), "timed out");
  };
  return { session, client, frames, open, until };
}

test("streams are accepted, echo data, finish both ways; pings are answered", async () => {
  const c = await setup((s) => {
    assert.equal(s.header("streamType"), "echo");
    s.accept();
    s.pipe(s);
  });
  await c.open(1, { streamtype: "echo" });
  await c.until(() => c.frames.some((f) => f.control && f.type === 2 && f.id === 1));
  c.client.write(data(1, 0, Buffer.from("ping me")));
  c.client.write(control(6, 0, Buffer.from([0, 0, 0, 7])));
  c.client.write(data(1, 1, Buffer.alloc(0)));
  await c.until(() => c.frames.some((f) => !f.control && f.id === 1 && (f.flags & 1) === 1));
  const echoed = Buffer.concat(c.frames.filter((f) => !f.control && f.id === 1).map((f) => f.body));
  assert.equal(echoed.toString(), "ping me");
  assert.ok(c.frames.some((f) => f.control && f.type === 6 && f.body.readUInt32BE(0) === 7));
  assert.equal(c.session.streamCount, 0);
  c.client.destroy();
});

test("a reset stream is destroyed; data for a stream never opened is refused", async () => {
  let stream: SpdyStream | undefined;
  const c = await setup((s) => {
    s.accept();
    stream = s;
  });
  await c.open(1, { streamtype: "x" });
  await c.until(() => stream !== undefined);
  const closed = new Promise((r) => stream!.once("close", r));
  const rst = Buffer.alloc(8);
  rst.writeUInt32BE(1, 0);
  rst.writeUInt32BE(5, 4);
  c.client.write(control(3, 0, rst));
  await closed;
  assert.ok(stream!.resetByPeer);
  c.client.write(data(9, 0, Buffer.from("?")));
  await c.until(() => c.frames.some((f) => f.control && f.type === 3 && f.id === 9));
  c.client.destroy();
});

test("once the peer announces windows, nothing is sent past them", async () => {
  const c = await setup((s) => {
    s.accept();
    s.end(Buffer.alloc(40_000, 1));
  });
  const settings = Buffer.alloc(12);
  settings.writeUInt32BE(1, 0);
  settings.writeUInt32BE(7, 4);
  settings.writeUInt32BE(10_000, 8);
  c.client.write(control(4, 0, settings));
  await c.open(1, { streamtype: "x" });
  const received = () =>
    c.frames.filter((f) => !f.control && f.id === 1).reduce((n, f) => n + f.body.length, 0);
  await c.until(() => received() === 10_000);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(received(), 10_000);
  const grant = Buffer.alloc(8);
  grant.writeUInt32BE(1, 0);
  grant.writeUInt32BE(30_000, 4);
  c.client.write(control(9, 0, grant));
  await c.until(() => c.frames.some((f) => !f.control && f.id === 1 && (f.flags & 1) === 1));
  assert.equal(received(), 40_000);
  c.client.destroy();
});

/** A client session and a server session joined by a TCP connection. */
async function sessions(onStream: (s: SpdyStream) => void) {
  const { client: clientSocket, server: serverSocket } = await socketPair();
  return {
    server: new SpdySession(serverSocket, Buffer.alloc(0), { role: "server", onStream }),
    client: new SpdySession(clientSocket, Buffer.alloc(0), { role: "client" }),
  };
}

test("a client session opens streams with odd ids and headers; data and FIN go both ways", async () => {
  const seen: Array<[number, string | undefined, string | undefined]> = [];
  const { server, client } = await sessions((s) => {
    seen.push([s.id, s.header("streamType"), s.header("port")]);
    s.accept();
    s.pipe(s);
  });
  const a = client.openStream({ streamType: "data", port: "80" });
  const b = client.openStream({ streamType: "error", port: "80" });
  assert.deepEqual([a.id, b.id], [1, 3]);
  const echoedA = readToEnd(a).then(String);
  const echoedB = readToEnd(b).then(String);
  a.write("to ");
  a.end("a");
  b.end(Buffer.alloc(100_000, "b"));
  assert.equal(await echoedA, "to a");
  assert.equal((await echoedB).length, 100_000);
  assert.deepEqual(seen, [
    [1, "data", "80"],
    [3, "error", "80"],
  ]);
  await new Promise((r) => setImmediate(r));
  assert.equal(client.streamCount, 0);
  assert.equal(server.streamCount, 0);
  client.close();
  server.destroy();
});

test("a stream the server resets is destroyed on the client; after close no stream opens", async () => {
  const { server, client } = await sessions((s) => s.reset());
  const s = client.openStream({ streamType: "x" });
  s.resume();
  await new Promise((r) => s.once("close", r));
  assert.ok(s.resetByPeer);
  client.close();
  assert.throws(() => client.openStream({ streamType: "y" }), /closed/);
  server.destroy();
});
