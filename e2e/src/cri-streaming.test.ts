// Exec, Attach and PortForward through berth-cri's streaming server, with the clients
// Kubernetes uses, written here from the protocols (nothing of berth-cri's code): SPDY/3.1
// with Kubernetes' stream headers, and WebSocket channels. Against berthd (Berth's shim)
// and containerd 1.6 (runc's shim): exit codes and both output streams, a terminal and its
// size, stdin's end, flow control, port forwarding to an httpd in the pod (20 connections
// at once), single-use tokens, and a client that leaves mid-exec.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { type IncomingHttpHeaders, createServer, request } from "node:http";
import net, { type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import zlib from "node:zlib";
import { ContainerState, type PodSandboxConfig } from "@berth/api/cri/runtime/v1/api";
import { execa } from "execa";
import { type ClientError, Status } from "nice-grpc";
import { type BerthCriUnderTest, startBerthCri } from "./cri/berth-cri.js";
import { type CriClient, criClient } from "./cri/client.js";
import { type TestNetwork, createTestNetwork } from "./cri/network.js";
import { pushPauseImage } from "./cri/pause-image.js";
import { type DaemonUnderTest, daemonKinds } from "./daemons.js";
import { type PushedImage, buildSimpleImage } from "./fixtures/images.js";
import { type Registry, startRegistry } from "./fixtures/registry.js";
import { removeDir, sleep, tempDir, waitFor } from "./fixtures/tmp.js";

// ---------------------------------------------------------------------------
// A SPDY/3.1 client, as kubectl's (moby/spdystream) behaves: it opens the streams, waits
// for each SYN_REPLY, writes DATA, half-closes with an empty FIN frame. With flowControl
// it also announces a small initial window and grants more only a little later, checking
// that the server never sends past the window.

/** SPDY/3's zlib dictionary for header blocks (the spec's bytes). */
const SPDY3_DICTIONARY = Buffer.from(
  "\0\0\0\x07options\0\0\0\x04head\0\0\0\x04post\0\0\0\x03put\0\0\0\x06delete\0\0\0\x05tr" +
    "ace\0\0\0\x06accept\0\0\0\x0eaccept-charset\0\0\0\x0faccept-encoding\0\0\0\x0faccept-l" +
    "anguage\0\0\0\x0daccept-ranges\0\0\0\x03age\0\0\0\x05allow\0\0\0\x0dauthorization\0\0\0" +
    "\x0dcache-control\0\0\0\x0aconnection\0\0\0\x0ccontent-base\0\0\0\x10content-encoding\0" +
    "\0\0\x10content-language\0\0\0\x0econtent-length\0\0\0\x10content-location\0\0\0\x0bco" +
    "ntent-md5\0\0\0\x0dcontent-range\0\0\0\x0ccontent-type\0\0\0\x04date\0\0\0\x04etag\0\0" +
    "\0\x06expect\0\0\0\x07expires\0\0\0\x04from\0\0\0\x04host\0\0\0\x08if-match\0\0\0\x11i" +
    "f-modified-since\0\0\0\x0dif-none-match\0\0\0\x08if-range\0\0\0\x13if-unmodified-since" +
    "\0\0\0\x0dlast-modified\0\0\0\x08location\0\0\0\x0cmax-forwards\0\0\0\x06pragma\0\0\0\x12" +
    "proxy-authenticate\0\0\0\x13proxy-authorization\0\0\0\x05range\0\0\0\x07referer\0\0\0\x0b" +
    "retry-after\0\0\0\x06server\0\0\0\x02te\0\0\0\x07trailer\0\0\0\x11transfer-encoding\0\0" +
    "\0\x07upgrade\0\0\0\x0auser-agent\0\0\0\x04vary\0\0\0\x03via\0\0\0\x07warning\0\0\0\x10" +
    "www-authenticate\0\0\0\x06method\0\0\0\x03get\0\0\0\x06status\0\0\0\x06200 OK\0\0\0\x07" +
    "version\0\0\0\x08HTTP/1.1\0\0\0\x03url\0\0\0\x06public\0\0\0\x0aset-cookie\0\0\0\x0ake" +
    "ep-alive\0\0\0\x06origin10010120120220520630030230330430530630740240540640740840941041" +
    "1412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved P" +
    "ermanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server" +
    " Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept O" +
    "ct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png," +
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,p" +
    "ublicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
  "latin1",
);

/** One zlib stream in one direction, each block flushed (SYNC_FLUSH) as SPDY wants. */
class ZlibBlocks {
  readonly #z: zlib.Deflate | zlib.Inflate;
  #out: Buffer[] = [];
  #chain: Promise<unknown> = Promise.resolve();

  constructor(kind: "deflate" | "inflate") {
    this.#z =
      kind === "deflate"
        ? zlib.createDeflate({ dictionary: SPDY3_DICTIONARY })
        : zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
    this.#z.on("data", (c: Buffer) => this.#out.push(c));
  }

  /** Blocks are processed one after another, in the order given. */
  run(input: Buffer): Promise<Buffer> {
    const next = this.#chain.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          this.#z.once("error", reject);
          this.#z.write(input);
          this.#z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            this.#z.off("error", reject);
            resolve(Buffer.concat(this.#out.splice(0)));
          });
        }),
    );
    this.#chain = next.catch(() => undefined);
    return next;
  }
}

function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [k, v] of entries) {
    parts.push(u32(Buffer.byteLength(k)), Buffer.from(k), u32(Buffer.byteLength(v)), Buffer.from(v));
  }
  return Buffer.concat(parts);
}

function control(type: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags << 24) | body.length) >>> 0, 4);
  return Buffer.concat([h, body]);
}

class SpdyTestStream {
  readonly id: number;
  readonly #client: SpdyTestClient;
  readonly chunks: Buffer[] = [];
  finished = false;
  reset = false;
  #waiters: Array<() => void> = [];

  constructor(client: SpdyTestClient, id: number) {
    this.#client = client;
    this.id = id;
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }

  write(data: Buffer | string): void {
    this.#client.sendData(this.id, Buffer.from(data), false);
  }

  end(data: Buffer | string = ""): void {
    this.#client.sendData(this.id, Buffer.from(data), true);
  }

  /** @internal */
  changed(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves once `check` holds (checked after every change), rejects after `timeoutMs`. */
  until(check: (s: SpdyTestStream) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`stream ${this.id}: timed out waiting for ${what}; got ${JSON.stringify(this.text)}`),
          ),
        timeoutMs,
      );
      const test = () => {
        if (check(this)) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(test);
      };
      test();
    });
  }

  /** Everything the server sends until its FIN (or a reset). */
  async all(timeoutMs = 30_000): Promise<string> {
    await this.until((s) => s.finished || s.reset, "the end of the stream", timeoutMs);
    return this.text;
  }
}

interface UpgradeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  socket?: Socket;
  head?: Buffer;
}

/** POSTs (or GETs) `url` with upgrade headers; a 101 gives the socket, anything else the body. */
function upgrade(
  url: string,
  headers: Record<string, string | string[]>,
  method = "POST",
): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers });
    req.once("upgrade", (res, socket, head) =>
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: "", socket, head }),
    );
    req.once("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.once("error", reject);
    req.end();
  });
}

class SpdyTestClient {
  readonly #socket: Socket;
  readonly #deflate = new ZlibBlocks("deflate");
  readonly #inflate = new ZlibBlocks("inflate");
  readonly #streams = new Map<number, SpdyTestStream>();
  readonly #replies = new Map<number, { resolve(): void; reject(e: Error): void }>();
  readonly #window: number | undefined;
  #nextId = 1;
  #buf = Buffer.alloc(0);
  #writes: Promise<unknown> = Promise.resolve();
  /** Per stream (and 0 for the session): what the server may still send before we grant more. */
  readonly windows = new Map<number, number>();
  readonly #ungranted = new Map<number, number>();
  #grantTimer: NodeJS.Timeout | undefined;
  /** DATA frames the server sent beyond a window. */
  violations = 0;
  goAway = false;
  readonly closed: Promise<void>;

  constructor(socket: Socket, head: Buffer, flowControlWindow?: number) {
    this.#socket = socket;
    this.#window = flowControlWindow;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (c: Buffer) => this.#onData(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      for (const s of this.#streams.values()) {
        s.reset = true;
        s.changed();
      }
      for (const r of this.#replies.values()) r.reject(new Error("connection closed"));
    });
    if (flowControlWindow !== undefined) {
      this.windows.set(0, 65_536);
      // SETTINGS: one entry, SETTINGS_INITIAL_WINDOW_SIZE (7).
      const body = Buffer.alloc(12);
      body.writeUInt32BE(1, 0);
      body.writeUInt32BE(7, 4);
      body.writeUInt32BE(flowControlWindow, 8);
      socket.write(control(4, 0, body));
    }
    if (head.length > 0) this.#onData(head);
  }

  static async connect(
    url: string,
    protocols: string[],
    flowControlWindow?: number,
  ): Promise<{ client?: SpdyTestClient; answer: UpgradeAnswer }> {
    const answer = await upgrade(url, {
      Connection: "Upgrade",
      Upgrade: "SPDY/3.1",
      "X-Stream-Protocol-Version": protocols,
    });
    if (answer.status !== 101 || answer.socket === undefined) return { answer };
    return {
      client: new SpdyTestClient(answer.socket, answer.head ?? Buffer.alloc(0), flowControlWindow),
      answer,
    };
  }

  /** Opens a stream and waits for the server's SYN_REPLY. */
  async open(headers: Record<string, string>): Promise<SpdyTestStream> {
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new SpdyTestStream(this, id);
    this.#streams.set(id, stream);
    if (this.#window !== undefined) this.windows.set(id, this.#window);
    const replied = new Promise<void>((resolve, reject) => this.#replies.set(id, { resolve, reject }));
    this.#writes = this.#writes.then(async () => {
      const block = await this.#deflate.run(headerBlock(headers));
      const fixed = Buffer.alloc(10);
      fixed.writeUInt32BE(id, 0);
      this.#socket.write(control(1, 0, Buffer.concat([fixed, block])));
    });
    await replied;
    return stream;
  }

  sendData(id: number, data: Buffer, fin: boolean): void {
    this.#writes = this.#writes.then(() => {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(id, 0);
      h.writeUInt32BE(((fin ? 1 : 0) << 24) | data.length, 4);
      this.#socket.write(Buffer.concat([h, data]));
    });
  }

  /** Closes the TCP connection without any goodbye. */
  drop(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    while (this.#buf.length >= 8) {
      const length = this.#buf.readUInt32BE(4) & 0xffffff;
      if (this.#buf.length < 8 + length) return;
      const frame = this.#buf.subarray(0, 8 + length);
      this.#buf = this.#buf.subarray(8 + length);
      this.#onFrame(frame);
    }
  }

  #onFrame(frame: Buffer): void {
    const flags = frame[4]!;
    const body = frame.subarray(8);
    if ((frame[0]! & 0x80) === 0) {
      const id = frame.readUInt32BE(0);
      const s = this.#streams.get(id);
      if (body.length > 0) this.#account(id, body.length);
      if (s === undefined) return;
      if (body.length > 0) s.chunks.push(Buffer.from(body));
      if (flags & 1) s.finished = true;
      s.changed();
      return;
    }
    const type = frame.readUInt16BE(2);
    if (type === 2) {
      // SYN_REPLY: its header block is inflated to keep the zlib stream in step.
      const id = body.readUInt32BE(0) & 0x7fffffff;
      this.#inflate.run(body.subarray(4)).then(
        () => {
          this.#replies.get(id)?.resolve();
          this.#replies.delete(id);
        },
        (err: Error) => this.#replies.get(id)?.reject(err),
      );
    } else if (type === 3) {
      const id = body.readUInt32BE(0) & 0x7fffffff;
      const status = body.readUInt32BE(4);
      this.#replies.get(id)?.reject(new Error(`stream ${id} reset by the server (status ${status})`));
      this.#replies.delete(id);
      const s = this.#streams.get(id);
      if (s !== undefined) {
        s.reset = true;
        s.changed();
      }
    } else if (type === 7) {
      this.goAway = true;
    }
  }

  #account(id: number, length: number): void {
    if (this.#window === undefined) return;
    for (const key of [id, 0]) {
      const left = (this.windows.get(key) ?? 0) - length;
      if (left < 0) this.violations++;
      this.windows.set(key, left);
      this.#ungranted.set(key, (this.#ungranted.get(key) ?? 0) + length);
    }
    // Grants come a little later, so the server does run into the window.
    this.#grantTimer ??= setTimeout(() => {
      this.#grantTimer = undefined;
      for (const [key, delta] of this.#ungranted) {
        const body = Buffer.alloc(8);
        body.writeUInt32BE(key, 0);
        body.writeUInt32BE(delta, 4);
        this.windows.set(key, (this.windows.get(key) ?? 0) + delta);
        this.#socket.write(control(9, 0, body));
      }
      this.#ungranted.clear();
    }, 20);
  }
}

// ---------------------------------------------------------------------------
// A WebSocket client (RFC 6455): masked frames out, messages in, by channel.

class WsTestClient {
  readonly #socket: Socket;
  readonly protocol: string;
  #buf = Buffer.alloc(0);
  /** Messages as received: channel and data (decoded from base64 for the base64 protocols). */
  readonly messages: Array<{ channel: number; data: Buffer }> = [];
  closeCode: number | undefined;
  readonly closed: Promise<void>;
  #waiters: Array<() => void> = [];

  constructor(socket: Socket, head: Buffer, protocol: string) {
    this.#socket = socket;
    this.protocol = protocol;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (c: Buffer) => this.#onData(c));
    socket.on("error", () => {});
    socket.on("close", () => this.#changed());
    if (head.length > 0) this.#onData(head);
  }

  static async connect(
    url: string,
    protocols: string[],
  ): Promise<{ client?: WsTestClient; answer: UpgradeAnswer }> {
    const key = randomBytes(16).toString("base64");
    const headers: Record<string, string> = {
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": key,
    };
    if (protocols.length > 0) headers["Sec-WebSocket-Protocol"] = protocols.join(", ");
    const answer = await upgrade(url, headers, "GET");
    if (answer.status !== 101 || answer.socket === undefined) return { answer };
    const expected = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    assert.equal(answer.headers["sec-websocket-accept"], expected);
    const protocol = String(answer.headers["sec-websocket-protocol"] ?? "");
    return { client: new WsTestClient(answer.socket, answer.head ?? Buffer.alloc(0), protocol), answer };
  }

  get base64(): boolean {
    return this.protocol.includes("base64");
  }

  /** Everything received on `channel`, in order. */
  text(channel: number): string {
    return Buffer.concat(this.messages.filter((m) => m.channel === channel).map((m) => m.data)).toString();
  }

  send(channel: number, data: Buffer | string): void {
    const payload = this.base64
      ? Buffer.from(String.fromCharCode(48 + channel) + Buffer.from(data).toString("base64"))
      : Buffer.concat([Buffer.from([channel]), Buffer.from(data)]);
    this.#sendFrame(this.base64 ? 1 : 2, payload);
  }

  /** v5: the client sends no more on `channel`. */
  closeChannel(channel: number): void {
    this.#sendFrame(2, Buffer.from([255, channel]));
  }

  close(): void {
    const code = Buffer.alloc(2);
    code.writeUInt16BE(1000);
    this.#sendFrame(8, code);
  }

  drop(): void {
    this.#socket.destroy();
  }

  until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      const test = () => {
        if (check()) {
          clearTimeout(timer);
          resolve();
        } else this.#waiters.push(test);
      };
      test();
    });
  }

  #changed(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  #sendFrame(opcode: number, payload: Buffer): void {
    const mask = randomBytes(4);
    let head: Buffer;
    if (payload.length < 126) head = Buffer.from([0x80 | opcode, 0x80 | payload.length]);
    else if (payload.length < 65536) {
      head = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
      head.writeUInt16BE(payload.length, 2);
    } else {
      head = Buffer.alloc(10);
      head[0] = 0x80 | opcode;
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(payload.length), 2);
    }
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    this.#socket.write(Buffer.concat([head, mask, masked]));
  }

  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      if (this.#buf.length < 2) return;
      const opcode = this.#buf[0]! & 0x0f;
      assert.equal(this.#buf[1]! & 0x80, 0, "server frames are not masked");
      let length = this.#buf[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.#buf.length < 4) return;
        length = this.#buf.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.#buf.length < 10) return;
        length = Number(this.#buf.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.#buf.length < offset + length) return;
      const payload = Buffer.from(this.#buf.subarray(offset, offset + length));
      this.#buf = this.#buf.subarray(offset + length);
      if (opcode === 8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.close();
        this.#socket.end();
      } else if (opcode === 1 || opcode === 2) {
        if (payload.length === 0) continue;
        if (this.base64) {
          this.messages.push({
            channel: payload[0]! - 48,
            data: Buffer.from(payload.subarray(1).toString(), "base64"),
          });
        } else {
          this.messages.push({ channel: payload[0]!, data: payload.subarray(1) });
        }
      }
      this.#changed();
    }
  }
}

// ---------------------------------------------------------------------------
// Sessions the way kubectl opens them.

const SPDY_EXEC_PROTOCOLS = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"];

interface SpdyCommand {
  client: SpdyTestClient;
  protocol: string;
  error: SpdyTestStream;
  stdin?: SpdyTestStream;
  stdout?: SpdyTestStream;
  stderr?: SpdyTestStream;
  resize?: SpdyTestStream;
}

async function spdyCommand(
  url: string,
  streams: { stdin?: boolean; stdout?: boolean; stderr?: boolean; tty?: boolean },
  options: { protocols?: string[]; flowControlWindow?: number } = {},
): Promise<SpdyCommand> {
  const { client, answer } = await SpdyTestClient.connect(
    url,
    options.protocols ?? SPDY_EXEC_PROTOCOLS,
    options.flowControlWindow,
  );
  assert.equal(answer.status, 101, answer.body);
  assert.ok(client);
  const protocol = String(answer.headers["x-stream-protocol-version"] ?? "");
  // kubectl's order: error first, then stdin, stdout, stderr, resize.
  const error = await client.open({ streamtype: "error" });
  const cmd: SpdyCommand = { client, protocol, error };
  if (streams.stdin) cmd.stdin = await client.open({ streamtype: "stdin" });
  if (streams.stdout) cmd.stdout = await client.open({ streamtype: "stdout" });
  if (streams.stderr) cmd.stderr = await client.open({ streamtype: "stderr" });
  if (streams.tty && protocol !== "v2.channel.k8s.io")
    cmd.resize = await client.open({ streamtype: "resize" });
  return cmd;
}

/** One forwarded connection over a port-forward session: an HTTP/1.0 GET, the answer and the error stream. */
async function forwardedGet(
  pf: SpdyTestClient,
  requestId: number,
  port: number,
  path: string,
): Promise<{ body: string; error: string }> {
  const headers = { port: String(port), requestid: String(requestId) };
  const error = await pf.open({ ...headers, streamtype: "error" });
  // kubectl only reads the error stream.
  error.end();
  const data = await pf.open({ ...headers, streamtype: "data" });
  data.write(`GET ${path} HTTP/1.0\r\nHost: pod\r\n\r\n`);
  const [body, err] = await Promise.all([data.all(), error.all()]);
  return { body, error: err };
}

function exitStatus(code: number, message: string) {
  return {
    metadata: {},
    status: "Failure",
    message,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

const SUCCESS = { metadata: {}, status: "Success" };

/** An exec's error-stream JSON: the exact Status, with the message only checked for its start. */
function assertExit(json: string, code: number): void {
  const status = JSON.parse(json) as { message?: string };
  assert.match(status.message ?? "", /^command terminated with non-zero exit code: /);
  assert.deepEqual(status, exitStatus(code, status.message ?? ""));
}

/** The argv of a process running in the container (by `ps`), or undefined. */
async function processRunning(client: CriClient, containerId: string, needle: string): Promise<boolean> {
  const ps = await client.runtime.execSync({ containerId, cmd: ["ps", "-o", "pid,args"], timeout: 10n });
  return Buffer.from(ps.stdout)
    .toString()
    .split("\n")
    .some((l) => l.includes(needle) && !l.includes("ps -o"));
}

// ---------------------------------------------------------------------------
// kubectl, a real client (client-go's SPDY and WebSocket code), needs an API server: this
// stand-in answers discovery and the pod's GET, and hands each exec or port-forward
// upgrade to the URL berth-cri returns, as kubelet does, by relaying the raw connection.

const KUBECTL = "/usr/bin/kubectl";

async function standInApiServer(cri: CriClient, podId: string, containerId: string) {
  const json = (body: unknown) => JSON.stringify(body);
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "web", namespace: "default", uid: "uid-web" },
    spec: { containers: [{ name: "web", image: "web" }] },
    status: { phase: "Running", containerStatuses: [{ name: "web", ready: true }] },
  };
  const discovery: Record<string, unknown> = {
    "/api": { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] },
    "/apis": { kind: "APIGroupList", apiVersion: "v1", groups: [] },
    "/api/v1": {
      kind: "APIResourceList",
      groupVersion: "v1",
      resources: [{ name: "pods", singularName: "pod", namespaced: true, kind: "Pod", verbs: ["get"] }],
    },
    "/api/v1/namespaces/default/pods/web": pod,
  };
  const server = createServer((req, res) => {
    const body = discovery[new URL(req.url ?? "/", "http://api").pathname];
    res.writeHead(body === undefined ? 404 : 200, { "Content-Type": "application/json" });
    res.end(json(body ?? { kind: "Status", status: "Failure", code: 404 }));
  });
  server.on("upgrade", async (req, socket: Socket, head: Buffer) => {
    socket.on("error", () => {});
    const u = new URL(req.url ?? "/", "http://api");
    const q = u.searchParams;
    const flag = (name: string) => q.get(name) === "true";
    let target: URL;
    try {
      const url = u.pathname.endsWith("/exec")
        ? (
            await cri.runtime.exec({
              containerId,
              cmd: q.getAll("command"),
              stdin: flag("stdin"),
              stdout: flag("stdout"),
              stderr: flag("stderr"),
              tty: flag("tty"),
            })
          ).url
        : (await cri.runtime.portForward({ podSandboxId: podId, port: q.getAll("ports").map(Number) })).url;
      target = new URL(url);
    } catch (err) {
      socket.end(`HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n${String(err)}`);
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname, () => {
      const lines = [`${req.method} ${target.pathname} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i]!;
        lines.push(`${name}: ${name.toLowerCase() === "host" ? target.host : req.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

let registry: Registry;
let image: PushedImage;
let pauseRef: string;
before(async () => {
  registry = await startRegistry();
  image = await buildSimpleImage(registry.host, "berth/cri-streaming", "v1");
  pauseRef = await pushPauseImage(image);
});
after(async () => {
  await registry?.stop();
});

for (const { kind, start } of daemonKinds) {
  const runtime = kind === "berthd" ? "io.containerd.berth.v2" : "io.containerd.runc.v2";
  describe(`CRI streaming through berth-cri on ${kind} (${runtime})`, { timeout: 600_000 }, () => {
    let daemon: DaemonUnderTest;
    let network: TestNetwork;
    let cri: BerthCriUnderTest;
    let client: CriClient;
    let logDir: string;
    let podId = "";
    let containerId = "";
    let staleUrl = "";
    let staleMintedAt = 0;
    const uid = `uid-streaming-${kind}-${process.pid}`;
    const podConfig = (): PodSandboxConfig => ({
      metadata: { name: "streaming", namespace: "e2e", uid, attempt: 0 },
      hostname: "streaming-pod",
      logDirectory: join(logDir, "pod"),
      dnsConfig: undefined,
      portMappings: [],
      labels: {},
      annotations: {},
      linux: undefined,
      windows: undefined,
    });

    before(async () => {
      daemon = await start();
      network = await createTestNetwork();
      logDir = await tempDir("cri-streaming-logs-");
      cri = await startBerthCri({
        containerdAddress: daemon.address,
        runtime,
        cniConfDir: network.confDir,
        sandboxImage: pauseRef,
        plainHttp: [registry.host],
      });
      client = criClient(cri.address);
      await client.images.pullImage({ image: { image: image.ref, annotations: {} } });
      podId = (await client.runtime.runPodSandbox({ config: podConfig(), runtimeHandler: "" })).podSandboxId;
      containerId = (
        await client.runtime.createContainer({
          podSandboxId: podId,
          config: {
            metadata: { name: "web", attempt: 0 },
            image: { image: image.ref },
            command: ["sh", "-c"],
            args: [
              "mkdir -p /www; echo hello-from-pod > /www/index.html; " +
                "(while true; do echo tick; sleep 1; done) & exec httpd -f -p 8080 -h /www",
            ],
            logPath: "web/0.log",
          },
          sandboxConfig: podConfig(),
        })
      ).containerId;
      await client.runtime.startContainer({ containerId });
    });

    after(async () => {
      if (client !== undefined) {
        const pods = await client.runtime.listPodSandbox({}).catch(() => ({ items: [] }));
        for (const p of pods.items)
          await client.runtime.removePodSandbox({ podSandboxId: p.id }).catch(() => undefined);
        client.close();
      }
      await cri?.remove();
      await daemon?.stop();
      await network?.cleanup();
      if (logDir !== undefined) await removeDir(logDir);
    });

    test("Exec, Attach and PortForward return URLs on the streaming server; bad requests are refused", async () => {
      const exec = await client.runtime.exec({ containerId, cmd: ["true"], stdout: true });
      assert.match(exec.url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{16,}$/);
      const attach = await client.runtime.attach({ containerId, stdout: true });
      assert.match(attach.url, /^http:\/\/127\.0\.0\.1:\d+\/attach\/[A-Za-z0-9_-]{16,}$/);
      const pf = await client.runtime.portForward({ podSandboxId: podId, port: [8080] });
      assert.match(pf.url, /^http:\/\/127\.0\.0\.1:\d+\/portforward\/[A-Za-z0-9_-]{16,}$/);
      staleUrl = (await client.runtime.exec({ containerId, cmd: ["true"], stdout: true })).url;
      staleMintedAt = Date.now();
      const refused: Array<[() => Promise<unknown>, Status]> = [
        [
          () => client.runtime.exec({ containerId, cmd: ["sh"], tty: true, stdout: true, stderr: true }),
          Status.INVALID_ARGUMENT,
        ],
        [() => client.runtime.exec({ containerId, cmd: [], stdout: true }), Status.INVALID_ARGUMENT],
        [() => client.runtime.exec({ containerId, cmd: ["true"] }), Status.INVALID_ARGUMENT],
        [() => client.runtime.exec({ containerId: "nope", cmd: ["true"], stdout: true }), Status.NOT_FOUND],
        [() => client.runtime.attach({ containerId: "nope", stdout: true }), Status.NOT_FOUND],
        [() => client.runtime.portForward({ podSandboxId: "nope", port: [80] }), Status.NOT_FOUND],
      ];
      for (const [call, code] of refused) {
        await assert.rejects(call(), (e: ClientError) => e.code === code);
      }
    });

    test("a token is good once: used, unknown or taken by a plain GET, it is 404", async () => {
      const url = (await client.runtime.exec({ containerId, cmd: ["true"], stdout: true })).url;
      const first = await SpdyTestClient.connect(url, SPDY_EXEC_PROTOCOLS);
      assert.equal(first.answer.status, 101);
      assert.equal(first.answer.headers["x-stream-protocol-version"], "v4.channel.k8s.io");
      first.client?.drop();
      const again = await SpdyTestClient.connect(url, SPDY_EXEC_PROTOCOLS);
      assert.equal(again.answer.status, 404);
      const unknown = await SpdyTestClient.connect(
        url.replace(/[^/]+$/, "AAAAAAAAAAAAAAAAAAAAAAAA"),
        SPDY_EXEC_PROTOCOLS,
      );
      assert.equal(unknown.answer.status, 404);
      const plain = (await client.runtime.exec({ containerId, cmd: ["true"], stdout: true })).url;
      const res = await fetch(plain);
      assert.equal(res.status, 400);
      assert.equal((await SpdyTestClient.connect(plain, SPDY_EXEC_PROTOCOLS)).answer.status, 404);
      const wrongKind = (await client.runtime.attach({ containerId, stdout: true })).url.replace(
        "/attach/",
        "/exec/",
      );
      assert.equal((await SpdyTestClient.connect(wrongKind, SPDY_EXEC_PROTOCOLS)).answer.status, 404);
      const noProtocol = (await client.runtime.exec({ containerId, cmd: ["true"], stdout: true })).url;
      const refused = await SpdyTestClient.connect(noProtocol, ["v9.channel.k8s.io"]);
      assert.equal(refused.answer.status, 403);
      assert.match(
        String(refused.answer.headers["x-accepted-stream-protocol-versions"]),
        /v4\.channel\.k8s\.io/,
      );
    });

    test("exec over SPDY v4: stdout and stderr apart, exit code 3 as a NonZeroExitCode Status", async () => {
      const cmd = ["sh", "-c", "echo out; echo err >&2; exit 3"];
      const url = (await client.runtime.exec({ containerId, cmd, stdout: true, stderr: true })).url;
      const s = await spdyCommand(url, { stdout: true, stderr: true });
      assert.equal(s.protocol, "v4.channel.k8s.io");
      const [out, err, status] = await Promise.all([s.stdout!.all(), s.stderr!.all(), s.error.all()]);
      assert.equal(out, "out\n");
      assert.equal(err, "err\n");
      assertExit(status, 3);
      await s.client.closed;

      const ok = (await client.runtime.exec({ containerId, cmd: ["echo", "fine"], stdout: true })).url;
      const t = await spdyCommand(ok, { stdout: true });
      assert.equal(await t.stdout!.all(), "fine\n");
      assert.deepEqual(JSON.parse(await t.error.all()), SUCCESS);
    });

    test("exec over older SPDY protocols: the error stream carries the message as text, nothing on success", async () => {
      const url = (await client.runtime.exec({ containerId, cmd: ["sh", "-c", "exit 5"], stdout: true })).url;
      const s = await spdyCommand(url, { stdout: true }, { protocols: ["v2.channel.k8s.io"] });
      assert.equal(s.protocol, "v2.channel.k8s.io");
      assert.match(await s.error.all(), /^command terminated with non-zero exit code: .*5/);
      const ok = (await client.runtime.exec({ containerId, cmd: ["true"], stdout: true })).url;
      const t = await spdyCommand(ok, { stdout: true }, { protocols: ["v3.channel.k8s.io"] });
      assert.equal(await t.error.all(), "");
    });

    test("exec over WebSocket: v4 binary and base64 channels, v5 closing stdin", async () => {
      const cmd = ["sh", "-c", "echo out; echo err >&2; exit 3"];
      for (const protocol of ["v4.channel.k8s.io", "v4.base64.channel.k8s.io"]) {
        const url = (await client.runtime.exec({ containerId, cmd, stdout: true, stderr: true })).url;
        const { client: ws, answer } = await WsTestClient.connect(url, [protocol]);
        assert.equal(answer.status, 101, answer.body);
        assert.ok(ws);
        assert.equal(ws.protocol, protocol);
        await ws.closed;
        assert.equal(ws.closeCode, 1000);
        assert.equal(ws.text(1), "out\n", protocol);
        assert.equal(ws.text(2), "err\n", protocol);
        assertExit(ws.text(3), 3);
        assert.equal(ws.messages[0]?.channel, 1, "an empty stdout message first says the session is up");
      }
      const url = (await client.runtime.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true })).url;
      const { client: ws } = await WsTestClient.connect(url, ["v5.channel.k8s.io", "v4.channel.k8s.io"]);
      assert.ok(ws);
      assert.equal(ws.protocol, "v5.channel.k8s.io");
      ws.send(0, "hello over v5\n");
      await ws.until(() => ws.text(1) === "hello over v5\n", "cat's echo");
      ws.closeChannel(0);
      await ws.closed;
      assert.deepEqual(JSON.parse(ws.text(3)), SUCCESS);
    });

    test("stdin's end reaches the process (CloseIO): cat ends", async () => {
      const url = (await client.runtime.exec({ containerId, cmd: ["cat"], stdin: true, stdout: true })).url;
      const s = await spdyCommand(url, { stdin: true, stdout: true });
      s.stdin!.write("line one\n");
      s.stdin!.end("line two\n");
      assert.equal(await s.stdout!.all(), "line one\nline two\n");
      assert.deepEqual(JSON.parse(await s.error.all()), SUCCESS);
    });

    test("a terminal exec: the client's terminal size shows in stty size, before and after start", async () => {
      const url = (
        await client.runtime.exec({ containerId, cmd: ["sh"], tty: true, stdin: true, stdout: true })
      ).url;
      const s = await spdyCommand(url, { stdin: true, stdout: true, tty: true });
      assert.ok(s.resize);
      // Like kubectl: the initial size right away.
      s.resize.write(JSON.stringify({ Width: 123, Height: 45 }));
      const sizeShows = async (expected: string) => {
        await waitFor(
          async () => {
            s.stdin!.write("busybox stty size\n");
            await sleep(200);
            return s.stdout!.text.includes(expected);
          },
          {
            what: `"${expected}" from stty size; got ${JSON.stringify(s.stdout!.text.slice(-200))}`,
            timeoutMs: 15_000,
          },
        );
      };
      await sizeShows("45 123");
      s.resize.write(JSON.stringify({ Width: 99, Height: 33 }));
      await sizeShows("33 99");
      s.stdin!.write("exit 7\n");
      await s.stdout!.all();
      assertExit(await s.error.all(), 7);
    });

    test("large output: all of it for a client without flow control, and never past the window for one with it", async () => {
      const line = "0123456789".repeat(6);
      const cmd = ["sh", "-c", `i=0; while [ $i -lt 5000 ]; do echo ${line}; i=$((i+1)); done`];
      const expected = 5000 * (line.length + 1);
      const plain = (await client.runtime.exec({ containerId, cmd, stdout: true })).url;
      const p = await spdyCommand(plain, { stdout: true });
      assert.equal((await p.stdout!.all(60_000)).length, expected);
      const controlled = (await client.runtime.exec({ containerId, cmd, stdout: true })).url;
      const c = await spdyCommand(controlled, { stdout: true }, { flowControlWindow: 16_384 });
      assert.equal((await c.stdout!.all(60_000)).length, expected);
      assert.deepEqual(JSON.parse(await c.error.all()), SUCCESS);
      assert.equal(c.client.violations, 0, "DATA sent past the window the client granted");
    });

    test("port forwarding over SPDY reaches httpd in the pod, with 20 connections at once", async () => {
      const url = (await client.runtime.portForward({ podSandboxId: podId, port: [8080] })).url;
      const { client: pf, answer } = await SpdyTestClient.connect(url, ["portforward.k8s.io"]);
      assert.equal(answer.status, 101, answer.body);
      assert.ok(pf);
      const first = await waitFor(
        async () => {
          const r = await forwardedGet(pf, 0, 8080, "/index.html");
          return r.body.includes("hello-from-pod") ? r : undefined;
        },
        { what: "httpd's page through the forwarded port", timeoutMs: 20_000, intervalMs: 300 },
      );
      assert.match(first.body, /^HTTP\/1\.[01] 200 OK/);
      assert.equal(first.error, "");
      const many = await Promise.all(
        Array.from({ length: 20 }, (_, i) => forwardedGet(pf, 100 + i, 8080, "/index.html")),
      );
      for (const r of many) {
        assert.match(r.body, /hello-from-pod/);
        assert.equal(r.error, "");
      }
      const closed = await forwardedGet(pf, 200, 1, "/");
      assert.equal(closed.body, "");
      assert.match(closed.error, /error forwarding port 1 to pod .*ECONNREFUSED/);
      pf.drop();
    });

    test("port forwarding over WebSocket: the port on both channels, then the data", async () => {
      for (const protocol of ["portforward.k8s.io", "v4.channel.k8s.io"]) {
        const url = (await client.runtime.portForward({ podSandboxId: podId, port: [8080] })).url;
        const { client: ws, answer } = await WsTestClient.connect(url, [protocol]);
        assert.equal(answer.status, 101, answer.body);
        assert.ok(ws);
        const port = Buffer.from([8080 & 0xff, 8080 >> 8]);
        await ws.until(() => ws.messages.length >= 2, "the port on the data and error channels");
        assert.deepEqual(ws.messages.slice(0, 2), [
          { channel: 0, data: port },
          { channel: 1, data: port },
        ]);
        ws.send(0, "GET /index.html HTTP/1.0\r\nHost: pod\r\n\r\n");
        await ws.closed;
        const body = Buffer.concat(
          ws.messages
            .slice(2)
            .filter((m) => m.channel === 0)
            .map((m) => m.data),
        ).toString();
        assert.match(body, /hello-from-pod/, protocol);
        assert.equal(ws.text(1).slice(2), "", "nothing on the error channel after the port");
      }
    });

    test("attach follows the container's output and leaves it running", async () => {
      const url = (await client.runtime.attach({ containerId, stdout: true, stderr: true })).url;
      const s = await spdyCommand(url, { stdout: true, stderr: true });
      await s.stdout!.until((x) => x.text.includes("tick\n"), "a tick from the container", 10_000);
      s.client.drop();
      await sleep(500);
      const st = await client.runtime.containerStatus({ containerId, verbose: false });
      assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
    });

    test("attach writes a container's stdin: clients come and go, stdin_once's first client ends it", async () => {
      const make = async (name: string, stdinOnce: boolean) => {
        const id = (
          await client.runtime.createContainer({
            podSandboxId: podId,
            config: {
              metadata: { name, attempt: 0 },
              image: { image: image.ref },
              command: ["sh", "-c", "while read l; do echo got $l; done; echo input-ended; exit 5"],
              stdin: true,
              stdinOnce,
              logPath: `${name}/0.log`,
            },
            sandboxConfig: podConfig(),
          })
        ).containerId;
        await client.runtime.startContainer({ containerId: id });
        return id;
      };
      const attachAndSay = async (id: string, line: string) => {
        const url = (
          await client.runtime.attach({ containerId: id, stdin: true, stdout: true, stderr: true })
        ).url;
        const s = await spdyCommand(url, { stdin: true, stdout: true, stderr: true });
        s.stdin!.write(`${line}\n`);
        await s.stdout!.until((x) => x.text.includes(`got ${line}\n`), `the echo of ${line}`, 15_000);
        return s;
      };

      // stdin_once false: a client closing its stdin does not end the container's.
      const keep = await make("stdin-keep", false);
      const first = await attachAndSay(keep, "one");
      first.stdin!.end();
      first.client.drop();
      const second = await attachAndSay(keep, "two");
      second.client.drop();
      const kept = await client.runtime.containerStatus({ containerId: keep, verbose: false });
      assert.equal(kept.status?.state, ContainerState.CONTAINER_RUNNING, "input goes on after clients leave");

      // stdin_once true: the first client's end of stdin is the container's.
      const once = await make("stdin-once", true);
      const only = await attachAndSay(once, "only");
      only.stdin!.end();
      await only.stdout!.until(
        (x) => x.text.includes("input-ended\n"),
        "the container's input to end",
        15_000,
      );
      let exited = false;
      for (let i = 0; i < 100 && !exited; i++) {
        const st = await client.runtime.containerStatus({ containerId: once, verbose: false });
        exited = st.status?.state === ContainerState.CONTAINER_EXITED;
        if (exited) assert.equal(st.status?.exitCode, 5);
        else await sleep(100);
      }
      assert.ok(exited, "the stdin_once container exits once its input has ended");
      only.client.drop();

      for (const id of [keep, once]) {
        await client.runtime.stopContainer({ containerId: id, timeout: 0 });
        await client.runtime.removeContainer({ containerId: id });
      }
    });

    test("a client that disconnects mid-exec leaves no process behind", async () => {
      for (const via of ["spdy", "websocket"] as const) {
        const marker = via === "spdy" ? "4242" : "4243";
        const cmd = ["sh", "-c", `echo started; exec sleep ${marker}`];
        const url = (await client.runtime.exec({ containerId, cmd, stdout: true })).url;
        if (via === "spdy") {
          const s = await spdyCommand(url, { stdout: true });
          await s.stdout!.until((x) => x.text.includes("started"), "the exec to start");
          assert.ok(await processRunning(client, containerId, `sleep ${marker}`));
          s.client.drop();
        } else {
          const { client: ws } = await WsTestClient.connect(url, ["v4.channel.k8s.io"]);
          assert.ok(ws);
          await ws.until(() => ws.text(1).includes("started"), "the exec to start");
          assert.ok(await processRunning(client, containerId, `sleep ${marker}`));
          ws.drop();
        }
        await waitFor(async () => !(await processRunning(client, containerId, `sleep ${marker}`)), {
          what: `sleep ${marker} to be gone after the ${via} client left`,
          timeoutMs: 20_000,
          intervalMs: 250,
        });
      }
    });

    test(
      "kubectl exec (WebSocket v5 and SPDY) and kubectl port-forward, through a stand-in API server",
      { skip: !existsSync(KUBECTL) && `${KUBECTL} is not installed` },
      async () => {
        const api = await standInApiServer(client, podId, containerId);
        const cache = await tempDir("kubectl-cache-");
        const kubectl = (args: string[], env: Record<string, string>, input?: string) =>
          execa(KUBECTL, [`--server=${api.url}`, `--cache-dir=${cache}`, "-n", "default", ...args], {
            env: { ...env, KUBECONFIG: "/dev/null" },
            input,
            reject: false,
            timeout: 60_000,
          });
        try {
          for (const websockets of ["true", "false"]) {
            const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: websockets };
            const r = await kubectl(
              ["exec", "web", "-c", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
              env,
            );
            assert.equal(r.exitCode, 3, `websockets=${websockets}: ${r.stderr}`);
            assert.equal(r.stdout, "out");
            assert.match(r.stderr, /^err$/m);
            const cat = await kubectl(
              ["exec", "-i", "web", "-c", "web", "--", "cat"],
              env,
              "through kubectl\n",
            );
            assert.equal(cat.exitCode, 0, cat.stderr);
            assert.equal(cat.stdout, "through kubectl");
          }
          const pf = execa(
            KUBECTL,
            [
              `--server=${api.url}`,
              `--cache-dir=${cache}`,
              "-n",
              "default",
              "port-forward",
              "pod/web",
              ":8080",
            ],
            { env: { KUBECONFIG: "/dev/null", KUBECTL_PORT_FORWARD_WEBSOCKETS: "false" }, reject: false },
          );
          try {
            let out = "";
            pf.stdout?.on("data", (d: Buffer) => {
              out += d.toString();
            });
            const port = await waitFor(() => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out)?.[1], {
              what: `kubectl port-forward to listen (${out})`,
              timeoutMs: 20_000,
            });
            const pages = await Promise.all(
              Array.from({ length: 20 }, async () => {
                const res = await fetch(`http://127.0.0.1:${port}/index.html`, {
                  signal: AbortSignal.timeout(20_000),
                });
                return res.text();
              }),
            );
            assert.deepEqual(new Set(pages), new Set(["hello-from-pod\n"]));
          } finally {
            pf.kill();
            await pf;
          }
        } finally {
          api.close();
          await removeDir(cache);
        }
      },
    );

    test("an expired token is 404", async () => {
      assert.notEqual(staleUrl, "");
      const wait = staleMintedAt + 61_000 - Date.now();
      if (wait > 0) await sleep(wait);
      const { answer } = await SpdyTestClient.connect(staleUrl, SPDY_EXEC_PROTOCOLS);
      assert.equal(answer.status, 404);
    });
  });
}
