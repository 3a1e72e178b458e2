// Node's HTTP/2 (nghttp2) refuses a request whose :authority holds a character outside RFC
// 3986's authority set, or is empty, with RST_STREAM PROTOCOL_ERROR, and has no option to
// stop. Older grpc-go clients dialing a unix socket send its path there (/run/berth/cri.sock);
// grpc-go and containerd accept any authority. So the client's bytes pass through a rewriter
// before Node's HTTP/2 sees them: every frame goes on untouched except request header blocks,
// which are decoded, given an authority nghttp2 accepts, and re-encoded as literals.
import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { type HeaderField, HpackDecoder, HpackError, encodeLiterals } from "./hpack.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const FRAME_HEADER = 9;
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** Every HTTP/2 peer takes frames of this size (SETTINGS_MAX_FRAME_SIZE's least value). */
const MAX_FRAME = 16_384;

/** The characters nghttp2 takes in an authority: unreserved, sub-delims, ":@[]%". */
const AUTHORITY = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]+$/;
const AUTHORITY_CHAR = /[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]/;

/**
 * An authority nghttp2 accepts for `value`: itself when it already is one, `localhost` when
 * empty, else with every other octet percent-encoded (as newer grpc-go clients send a path).
 */
export function acceptableAuthority(value: string): string {
  if (value === "") return "localhost";
  if (AUTHORITY.test(value)) return value;
  let out = "";
  for (const c of value) {
    if (AUTHORITY_CHAR.test(c)) out += c;
    else for (const b of Buffer.from(c, "latin1")) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export interface RequestRewriterOptions {
  /** The largest header block (its encoded fragments) or decoded header list taken, in octets. */
  maxHeaderBlock?: number;
}

interface PendingBlock {
  streamId: number;
  flags: number;
  priority: Buffer | null;
  fragments: Buffer[];
  size: number;
}

/**
 * Rewrites the client-to-server bytes of one HTTP/2 connection, fed in any split. Frames
 * other than HEADERS (and their CONTINUATIONs) are passed on as slices of the input.
 * A malformed header block fails the connection: `onError` is told why and the output gets a
 * header block nghttp2 refuses, so that the server answers GOAWAY COMPRESSION_ERROR itself;
 * later input is dropped.
 */
export class RequestRewriter {
  readonly #emit: (chunk: Buffer) => void;
  readonly #onError: (message: string) => void;
  readonly #decoder: HpackDecoder;
  readonly #maxBlock: number;
  #mode: "preface" | "frames" | "passthrough" | "failed" = "preface";
  #prefaceSeen = 0;
  readonly #header = Buffer.alloc(FRAME_HEADER);
  #headerFill = 0;
  /** Payload octets of a passed-through frame still to come. */
  #passLeft = 0;
  /** A HEADERS or CONTINUATION frame's payload being gathered. */
  #frame: { type: number; flags: number; streamId: number; payload: Buffer; fill: number } | null = null;
  #block: PendingBlock | null = null;

  constructor(
    emit: (chunk: Buffer) => void,
    onError: (message: string) => void,
    options: RequestRewriterOptions = {},
  ) {
    this.#emit = emit;
    this.#onError = onError;
    this.#maxBlock = options.maxHeaderBlock ?? 256 * 1024;
    this.#decoder = new HpackDecoder(4096, this.#maxBlock);
  }

  get failed(): boolean {
    return this.#mode === "failed";
  }

  write(chunk: Buffer): void {
    let pos = 0;
    // Input from here up to `pos` is passed on at once, as one slice.
    let passFrom = 0;
    const flush = (end: number) => {
      if (end > passFrom) this.#emit(chunk.subarray(passFrom, end));
      passFrom = end;
    };
    while (pos < chunk.length) {
      if (this.#mode === "failed") return;
      if (this.#mode === "passthrough") break;
      if (this.#mode === "preface") {
        // Not HTTP/2 with prior knowledge: nghttp2 says so to the client, untouched.
        const n = Math.min(PREFACE.length - this.#prefaceSeen, chunk.length - pos);
        if (
          !chunk.subarray(pos, pos + n).equals(PREFACE.subarray(this.#prefaceSeen, this.#prefaceSeen + n))
        ) {
          this.#mode = "passthrough";
          break;
        }
        pos += n;
        this.#prefaceSeen += n;
        if (this.#prefaceSeen === PREFACE.length) this.#mode = "frames";
        continue;
      }
      if (this.#passLeft > 0) {
        const n = Math.min(this.#passLeft, chunk.length - pos);
        pos += n;
        this.#passLeft -= n;
        continue;
      }
      const frame = this.#frame;
      if (frame !== null) {
        const n = Math.min(frame.payload.length - frame.fill, chunk.length - pos);
        chunk.copy(frame.payload, frame.fill, pos, pos + n);
        frame.fill += n;
        pos += n;
        passFrom = pos;
        if (frame.fill === frame.payload.length) {
          this.#frame = null;
          this.#gathered(frame.type, frame.flags, frame.streamId, frame.payload);
        }
        continue;
      }
      // A frame header, perhaps split across writes.
      const frameStart = pos;
      const startedBefore = this.#headerFill > 0;
      const n = Math.min(FRAME_HEADER - this.#headerFill, chunk.length - pos);
      chunk.copy(this.#header, this.#headerFill, pos, pos + n);
      this.#headerFill += n;
      pos += n;
      if (this.#headerFill < FRAME_HEADER) {
        flush(frameStart);
        passFrom = chunk.length;
        return;
      }
      this.#headerFill = 0;
      const length = this.#header.readUIntBE(0, 3);
      const type = this.#header[3] as number;
      const flags = this.#header[4] as number;
      const streamId = this.#header.readUInt32BE(5) & 0x7fffffff;
      if (this.#block === null && type !== HEADERS) {
        if (startedBefore) {
          flush(frameStart);
          this.#emit(Buffer.from(this.#header));
          passFrom = pos;
        }
        this.#passLeft = length;
        continue;
      }
      flush(frameStart);
      passFrom = pos;
      if (this.#block !== null && (type !== CONTINUATION || streamId !== this.#block.streamId)) {
        this.#fail(
          `a header block on stream ${this.#block.streamId} is interrupted by a frame of type ${type}`,
        );
        return;
      }
      if ((this.#block?.size ?? 0) + length > this.#maxBlock) {
        this.#fail(`a header block is over ${this.#maxBlock} octets`);
        return;
      }
      this.#frame = { type, flags, streamId, payload: Buffer.allocUnsafe(length), fill: 0 };
      if (length === 0) {
        this.#frame = null;
        this.#gathered(type, flags, streamId, Buffer.alloc(0));
      }
    }
    if (this.#mode === "failed") return;
    flush(chunk.length);
  }

  #gathered(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (type === HEADERS) {
      let start = 0;
      let end = payload.length;
      let priority: Buffer | null = null;
      if (flags & PADDED) {
        if (payload.length < 1) {
          this.#fail("a padded HEADERS frame has no pad length");
          return;
        }
        end -= payload[0] as number;
        start = 1;
      }
      if (flags & PRIORITY) {
        priority = payload.subarray(start, start + 5);
        start += 5;
      }
      if (end < start) {
        this.#fail(`HEADERS on stream ${streamId} has more padding than payload`);
        return;
      }
      this.#block = {
        streamId,
        flags,
        priority,
        fragments: [payload.subarray(start, end)],
        size: end - start,
      };
    } else {
      const block = this.#block as PendingBlock;
      block.fragments.push(payload);
      block.size += payload.length;
    }
    if (flags & END_HEADERS) {
      const block = this.#block as PendingBlock;
      this.#block = null;
      this.#rewrite(block);
    }
  }

  #rewrite(block: PendingBlock): void {
    let fields: HeaderField[];
    try {
      fields = this.#decoder.decode(Buffer.concat(block.fragments, block.size));
    } catch (err) {
      if (err instanceof HpackError) {
        this.#fail(`stream ${block.streamId}: ${err.message}`);
        return;
      }
      throw err;
    }
    for (const field of fields) {
      if (field.name === ":authority" || field.name === "host")
        field.value = acceptableAuthority(field.value);
    }
    this.#emitHeaders(block.streamId, block.flags, block.priority, encodeLiterals(fields));
  }

  #emitHeaders(streamId: number, flags: number, priority: Buffer | null, encoded: Buffer): void {
    const body = priority === null ? encoded : Buffer.concat([priority, encoded]);
    let type = HEADERS;
    let kept = flags & (END_STREAM | PRIORITY);
    for (let at = 0; ; ) {
      const n = Math.min(MAX_FRAME, body.length - at);
      const last = at + n === body.length;
      const header = Buffer.alloc(FRAME_HEADER);
      header.writeUIntBE(n, 0, 3);
      header[3] = type;
      header[4] = kept | (last ? END_HEADERS : 0);
      header.writeUInt32BE(streamId, 5);
      this.#emit(header);
      if (n > 0) this.#emit(body.subarray(at, at + n));
      at += n;
      if (last) return;
      type = CONTINUATION;
      kept = 0;
    }
  }

  #fail(message: string): void {
    this.#mode = "failed";
    this.#frame = null;
    this.#block = null;
    this.#onError(message);
    // Indexed field 0 is never valid: nghttp2 ends the connection with COMPRESSION_ERROR.
    this.#emitHeaders(1, END_STREAM, null, Buffer.from([0x80]));
  }
}

export interface AuthorityRewritingOptions extends RequestRewriterOptions {
  /** Told once why a connection failed (a malformed header block). */
  onError?: (message: string) => void;
  /** How long a failed connection is left for the server to send its GOAWAY. */
  failGraceMs?: number;
}

/**
 * A connection for Node's HTTP/2 server: reads are the socket's with request header
 * blocks rewritten (RequestRewriter); writes go to the socket untouched. A failed
 * connection is closed after a short grace; socket errors close it without an error.
 */
export class AuthorityRewritingConnection extends Duplex {
  readonly #socket: Socket;
  readonly #rewriter: RequestRewriter;
  #failTimer: NodeJS.Timeout | undefined;

  constructor(socket: Socket, options: AuthorityRewritingOptions = {}) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    const graceMs = options.failGraceMs ?? 1_000;
    this.#rewriter = new RequestRewriter(
      (chunk) => {
        if (!this.push(chunk)) socket.pause();
      },
      (message) => {
        options.onError?.(message);
        this.#failTimer = setTimeout(() => this.destroy(), graceMs);
        this.#failTimer.unref();
      },
      options,
    );
    socket.on("data", (chunk: Buffer) => this.#rewriter.write(chunk));
    socket.on("end", () => this.push(null));
    socket.on("error", () => this.destroy());
    socket.on("close", () => this.destroy());
  }

  get socket(): Socket {
    return this.#socket;
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.#socket.write(chunk, (err) => this.#written(err, callback));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: () => void): void {
    const last = chunks.length - 1;
    this.#socket.cork();
    chunks.forEach(({ chunk }, i) => {
      if (i < last) this.#socket.write(chunk);
      else this.#socket.write(chunk, (err) => this.#written(err, callback));
    });
    this.#socket.uncork();
  }

  /** A client gone while the server writes only closes the connection. */
  #written(err: Error | null | undefined, callback: () => void): void {
    if (err) this.destroy();
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end(callback);
  }

  override _destroy(_error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#failTimer);
    this.#socket.destroy();
    // Errors of the connection itself are not the server's: it only sees the close.
    callback(null);
  }
}
