// The server side of RFC 6455 WebSockets on an upgraded HTTP connection: the handshake
// with subprotocol choice, then whole messages in, frames out. No extensions are
// negotiated, so frames carry no RSV bits; client frames must be masked, ours are not.

import { isUtf8 } from "node:buffer";
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { rejectUpgrade } from "./http.js";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/** Messages larger than this end the connection (1009). */
const MAX_MESSAGE = 16 << 20;
const CLOSE_LINGER_MS = 5_000;

const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  InvalidData: 1007,
  TooBig: 1009,
  InternalError: 1011,
} as const;

export function isWebSocketRequest(req: IncomingMessage): boolean {
  const upgrade = String(req.headers.upgrade ?? "").toLowerCase();
  const connection = String(req.headers.connection ?? "").toLowerCase();
  return upgrade === "websocket" && /(^|,)\s*upgrade\s*(,|$)/.test(connection);
}

/** The subprotocols a client offers, in its order of preference. */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const raw = req.headers["sec-websocket-protocol"];
  const values = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return values
    .flatMap((v) => v.split(","))
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

/**
 * Completes the handshake with the first subprotocol the client offers that is in
 * `supported` ("" in `supported` admits a client that offers none). Answers the error
 * itself and returns undefined when it cannot.
 */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Socket,
  supported: readonly string[],
): { protocol: string } | undefined {
  const key = String(req.headers["sec-websocket-key"] ?? "");
  if (req.method !== "GET" || !/^[A-Za-z0-9+/]{22}==$/.test(key)) {
    rejectUpgrade(socket, 400, "bad WebSocket handshake: a GET with a Sec-WebSocket-Key is required");
    return undefined;
  }
  if (String(req.headers["sec-websocket-version"] ?? "") !== "13") {
    rejectUpgrade(socket, 426, "WebSocket version 13 is required", { "Sec-WebSocket-Version": "13" });
    return undefined;
  }
  const offered = offeredSubprotocols(req);
  const protocol =
    offered.length === 0
      ? supported.includes("")
        ? ""
        : undefined
      : offered.find((p) => supported.includes(p));
  if (protocol === undefined) {
    rejectUpgrade(
      socket,
      403,
      `requested subprotocol(s) ${JSON.stringify(offered)} are not supported; supported: ${JSON.stringify(supported.filter((p) => p !== ""))}`,
    );
    return undefined;
  }
  const accept = createHash("sha1")
    .update(key + GUID)
    .digest("base64");
  socket.write(
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Sec-WebSocket-Accept: ${accept}\r\n` +
      (protocol === "" ? "" : `Sec-WebSocket-Protocol: ${protocol}\r\n`) +
      "\r\n",
  );
  return { protocol };
}

export interface WebSocketOptions {
  /** A whole message from the client. */
  onMessage(data: Buffer, binary: boolean): void;
  /** The connection is gone (closed by either side, or dropped). */
  onClose?(): void;
  idleTimeoutMs?: number;
}

/** An accepted WebSocket: message framing, ping/pong and the closing handshake. */
export class WebSocketConnection {
  readonly #socket: Socket;
  readonly #options: WebSocketOptions;
  #buffer: Buffer = Buffer.alloc(0);
  #fragments: Buffer[] = [];
  #fragmentsLength = 0;
  #fragmentOpcode = 0;
  #closeSent = false;
  #closed = false;
  readonly #drainWaiters: Array<() => void> = [];

  constructor(socket: Socket, head: Buffer, options: WebSocketOptions) {
    this.#socket = socket;
    this.#options = options;
    socket.setNoDelay(true);
    if ((options.idleTimeoutMs ?? 0) > 0) socket.setTimeout(options.idleTimeoutMs!, () => socket.destroy());
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    socket.on("drain", () => {
      for (const w of this.#drainWaiters.splice(0)) w();
    });
    socket.on("end", () => socket.end());
    socket.on("close", () => this.#onClose());
    if (head.length > 0) this.#onData(head);
  }

  get closed(): boolean {
    return this.#closed || this.#closeSent;
  }

  /** Sends one message; resolves once the socket has taken it. */
  send(data: Buffer, binary = true): Promise<void> {
    if (this.closed) return Promise.reject(new Error("WebSocket closed"));
    this.#socket.write(frame(binary ? Opcode.Binary : Opcode.Text, data));
    if (!this.#socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Starts the closing handshake; the socket is closed when the client answers (or soon after). */
  close(code: number = CloseCode.Normal, reason = ""): void {
    if (this.#closed || this.#closeSent) return;
    this.#closeSent = true;
    const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
    payload.writeUInt16BE(code, 0);
    payload.write(reason, 2);
    this.#socket.write(frame(Opcode.Close, payload));
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  /** Stops reading from the client (a reader fell behind). */
  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#closed) this.#socket.resume();
  }

  #fail(code: number, reason: string): void {
    this.close(code, reason);
    this.#buffer = Buffer.alloc(0);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const parsed = parseFrame(this.#buffer);
      if (parsed === undefined) return;
      if ("error" in parsed) {
        this.#fail(parsed.code, parsed.error);
        return;
      }
      this.#buffer = this.#buffer.subarray(parsed.used);
      this.#onFrame(parsed.fin, parsed.opcode, parsed.payload);
      if (this.#closed) return;
    }
  }

  #onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case Opcode.Ping:
        if (!this.#closeSent) this.#socket.write(frame(Opcode.Pong, payload));
        return;
      case Opcode.Pong:
        return;
      case Opcode.Close: {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.Normal;
        if (!this.#closeSent) {
          this.#closeSent = true;
          const echo = Buffer.alloc(2);
          echo.writeUInt16BE(code === 1005 || code === 1006 ? CloseCode.Normal : code, 0);
          this.#socket.write(frame(Opcode.Close, echo));
        }
        this.#socket.end();
        setTimeout(() => this.#socket.destroy(), CLOSE_LINGER_MS).unref();
        return;
      }
      case Opcode.Text:
      case Opcode.Binary:
        if (this.#fragmentOpcode !== 0) {
          this.#fail(CloseCode.ProtocolError, "new message inside a fragmented one");
          return;
        }
        if (fin) {
          this.#deliver(opcode, payload);
          return;
        }
        this.#fragmentOpcode = opcode;
        this.#addFragment(payload);
        return;
      case Opcode.Continuation:
        if (this.#fragmentOpcode === 0) {
          this.#fail(CloseCode.ProtocolError, "continuation frame outside a message");
          return;
        }
        if (!this.#addFragment(payload)) return;
        if (fin) {
          const whole = Buffer.concat(this.#fragments);
          const op = this.#fragmentOpcode;
          this.#fragments = [];
          this.#fragmentsLength = 0;
          this.#fragmentOpcode = 0;
          this.#deliver(op, whole);
        }
        return;
      default:
        this.#fail(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    }
  }

  #addFragment(payload: Buffer): boolean {
    this.#fragmentsLength += payload.length;
    if (this.#fragmentsLength > MAX_MESSAGE) {
      this.#fail(CloseCode.TooBig, "message too big");
      return false;
    }
    this.#fragments.push(payload);
    return true;
  }

  #deliver(opcode: number, payload: Buffer): void {
    if (this.#closeSent) return;
    if (opcode === Opcode.Text && !isUtf8(payload)) {
      this.#fail(CloseCode.InvalidData, "text message is not UTF-8");
      return;
    }
    this.#options.onMessage(payload, opcode === Opcode.Binary);
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#drainWaiters.splice(0)) w();
    this.#options.onClose?.();
  }
}

type Parsed =
  | { fin: boolean; opcode: number; payload: Buffer; used: number }
  | { error: string; code: number }
  | undefined;

function parseFrame(buf: Buffer): Parsed {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  const fin = (b0 & 0x80) !== 0;
  const opcode = b0 & 0x0f;
  if ((b0 & 0x70) !== 0) return { error: "RSV bits set without an extension", code: CloseCode.ProtocolError };
  if ((b1 & 0x80) === 0) return { error: "client frames must be masked", code: CloseCode.ProtocolError };
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buf.length < 4) return undefined;
    length = buf.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buf.length < 10) return undefined;
    const big = buf.readBigUInt64BE(2);
    if (big > BigInt(MAX_MESSAGE)) return { error: "frame too big", code: CloseCode.TooBig };
    length = Number(big);
    offset = 10;
  }
  if (opcode >= 8 && (length > 125 || !fin)) {
    return { error: "control frames are short and unfragmented", code: CloseCode.ProtocolError };
  }
  if (length > MAX_MESSAGE) return { error: "frame too big", code: CloseCode.TooBig };
  if (buf.length < offset + 4 + length) return undefined;
  const mask = buf.subarray(offset, offset + 4);
  const payload = Buffer.from(buf.subarray(offset + 4, offset + 4 + length));
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
  return { fin, opcode, payload, used: offset + 4 + length };
}

function frame(opcode: number, payload: Buffer): Buffer {
  let head: Buffer;
  if (payload.length < 126) {
    head = Buffer.from([0x80 | opcode, payload.length]);
  } else if (payload.length < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(payload.length, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([head, payload]);
}
