// Test clients for berth-cri's streaming server, the clients Kubernetes uses written from
// the protocols (nothing of berth-cri's code): SPDY/3.1 with Kubernetes' stream headers,
// and WebSocket channels. Shared by e2e/src/cri-streaming.test.ts and bench/streaming.ts.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { type IncomingHttpHeaders, request } from "node:http";
import type { Socket } from "node:net";
import zlib from "node:zlib";

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

export class SpdyTestStream {
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

export interface UpgradeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  socket?: Socket;
  head?: Buffer;
}

/** POSTs (or GETs) `url` with upgrade headers; a 101 gives the socket, anything else the body. */
export function upgrade(
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

export class SpdyTestClient {
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

export class WsTestClient {
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

export const SPDY_EXEC_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v3.channel.k8s.io",
  "v2.channel.k8s.io",
  "channel.k8s.io",
];

export interface SpdyCommand {
  client: SpdyTestClient;
  protocol: string;
  error: SpdyTestStream;
  stdin?: SpdyTestStream;
  stdout?: SpdyTestStream;
  stderr?: SpdyTestStream;
  resize?: SpdyTestStream;
}

export async function spdyCommand(
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
export async function forwardedGet(
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

export function exitStatus(code: number, message: string) {
  return {
    metadata: {},
    status: "Failure",
    message,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(code) }] },
  };
}

export const SUCCESS = { metadata: {}, status: "Success" };

/** An exec's error-stream JSON: the exact Status, with the message only checked for its start. */
export function assertExit(json: string, code: number): void {
  const status = JSON.parse(json) as { message?: string };
  assert.match(status.message ?? "", /^command terminated with non-zero exit code: /);
  assert.deepEqual(status, exitStatus(code, status.message ?? ""));
}
