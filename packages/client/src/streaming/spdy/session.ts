// A SPDY/3.1 connection as Kubernetes uses it, either end: the client opens streams
// (SYN_STREAM with headers such as `streamtype`, odd ids), the server answers each with a
// SYN_REPLY or a RST_STREAM, and both sides send DATA until each has sent FIN. The server
// opens no streams of its own; a client refuses any the server would open.
//
// Flow control: Kubernetes' SPDY stack (moby/spdystream, behind kubectl, kubelet and the
// API server) neither sends WINDOW_UPDATE nor waits for one; it relies on TCP. So the
// windows are tracked from the start but only enforced on what we send once the peer
// shows it does flow control (a WINDOW_UPDATE, or SETTINGS with an initial window size).
// What we receive is acknowledged with WINDOW_UPDATEs as the application reads it, and a
// stream whose reader falls behind pauses the whole connection (TCP backpressure).

import type { Socket } from "node:net";
import { Duplex, type Readable } from "node:stream";
import {
  ControlType,
  FLAG_FIN,
  type Frame,
  FrameReader,
  GoAwayStatus,
  INITIAL_WINDOW,
  MAX_WINDOW,
  RstStatus,
  SPDY_VERSION,
  SettingsId,
  SpdyProtocolError,
  dataFrame,
  goAwayFrame,
  parseSettings,
  pingFrame,
  rstStreamFrame,
  synReplyFrame,
  synStreamFrame,
  windowUpdateFrame,
} from "./frames.js";
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders, encodeHeaderBlock } from "./headers.js";

/** Frames larger than this are refused (DATA frames of Kubernetes clients are 32 KiB). */
const MAX_FRAME = 1 << 20;
/** What one DATA frame we send carries at most. */
const MAX_DATA_PAYLOAD = 32 * 1024;
/** Inbound bytes a stream may hold unread before the connection stops reading. */
const STREAM_HIGH_WATER = 256 * 1024;
/** Received bytes acknowledged with one WINDOW_UPDATE. */
const WINDOW_ACK_THRESHOLD = INITIAL_WINDOW / 2;
/** How long close() waits for the peer to close its side before dropping the connection. */
const CLOSE_LINGER_MS = 5_000;

export interface SpdySessionOptions {
  /** "client": this end opens streams (openStream); "server": the peer does (onStream). */
  role: "client" | "server";
  /** Server: called for each stream the peer opens, once its headers are known; accept() or reset() it. */
  onStream?(stream: SpdyStream): void;
  /** Connection closed for good (every stream is destroyed by then). */
  onClose?(): void;
  /** A protocol error ended the connection. */
  onError?(err: Error): void;
  /** The connection is dropped after this long without a frame either way (0: never). */
  idleTimeoutMs?: number;
  /** Streams open at once; more are refused. */
  maxStreams?: number;
}

interface PendingWrite {
  data: Buffer;
  fin: boolean;
  callback: (err?: Error | null) => void;
}

export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: SpdyHeaders;
  readonly #session: SpdySession;
  #replied = false;
  #localFin = false;
  #remoteFin = false;
  #reset = false;
  /** How much we may still send, as the peer granted it. */
  sendWindow: number;
  #pushed = 0;
  #acknowledged = 0;
  #blocking = false;
  #pending: PendingWrite | undefined;

  /** @internal `opened`: this end opened the stream, so it may send at once. */
  constructor(session: SpdySession, id: number, headers: SpdyHeaders, sendWindow: number, opened = false) {
    super({ allowHalfOpen: true, readableHighWaterMark: STREAM_HIGH_WATER });
    this.#session = session;
    this.id = id;
    this.headers = headers;
    this.sendWindow = sendWindow;
    this.#replied = opened;
    // A peer's reset or a dropped connection destroys the stream; nobody needs the error.
    this.on("error", () => {});
  }

  /** The first value of a header (names are lower case in SPDY). */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  get resetByPeer(): boolean {
    return this.#reset;
  }

  /** Accepts a stream the peer opened: a SYN_REPLY with no headers, as Kubernetes servers send. */
  accept(): void {
    if (this.#replied || this.destroyed) return;
    this.#replied = true;
    this.#session.sendReply(this.id);
  }

  /** Ends both directions at once with RST_STREAM. */
  reset(status: number = RstStatus.Cancel): void {
    if (this.destroyed) return;
    if (!this.#reset && !(this.#localFin && this.#remoteFin)) {
      this.#reset = true;
      this.#session.sendReset(this.id, status);
    }
    this.destroy();
  }

  /**
   * @internal At the end of the connection: a stream we have finished sending on is let go
   * of quietly, one we have not is reset (so the peer stops waiting on it).
   */
  closeAtEnd(): void {
    if (this.#localFin) {
      this.#reset = true;
      this.destroy();
    } else {
      this.reset(RstStatus.Cancel);
    }
  }

  /** @internal Data from the peer. */
  receive(data: Buffer, fin: boolean): void {
    if (this.#remoteFin) {
      this.reset(RstStatus.StreamAlreadyClosed);
      return;
    }
    if (data.length > 0) {
      this.#pushed += data.length;
      if (!this.push(data) && !this.#blocking) {
        this.#blocking = true;
        this.#session.blockReading(this);
      }
    }
    if (fin) this.receiveFin();
  }

  /** @internal The peer finished sending. */
  receiveFin(): void {
    if (this.#remoteFin) return;
    this.#remoteFin = true;
    this.push(null);
    this.#maybeDone();
  }

  /** @internal The peer reset the stream. */
  receiveReset(): void {
    this.#reset = true;
    this.destroy();
  }

  /** @internal The peer granted more window. */
  grant(delta: number): void {
    this.sendWindow += delta;
    this.flushPending();
  }

  /** @internal Sends what waited for window, as far as the windows now allow. */
  flushPending(): void {
    const p = this.#pending;
    if (p === undefined) return;
    this.#pending = undefined;
    this.#send(p);
  }

  override _read(): void {
    if (this.#blocking) {
      this.#blocking = false;
      this.#session.unblockReading(this);
    }
    const consumed = this.#pushed - this.readableLength;
    const unacknowledged = consumed - this.#acknowledged;
    if (unacknowledged >= WINDOW_ACK_THRESHOLD) {
      this.#acknowledged = consumed;
      this.#session.acknowledge(this.id, unacknowledged);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#send({ data: chunk, fin: false, callback });
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#send({ data: Buffer.alloc(0), fin: true, callback });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.#reset && !(this.#localFin && this.#remoteFin) && this.#replied) {
      this.#reset = true;
      this.#session.sendReset(this.id, RstStatus.Cancel);
    }
    if (this.#blocking) {
      this.#blocking = false;
      this.#session.unblockReading(this);
    }
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.callback(err ?? new Error("stream closed"));
    this.#session.forget(this);
    callback(err);
  }

  #send(p: PendingWrite): void {
    if (this.#reset || this.#session.closed) {
      p.callback(new Error(this.#reset ? "stream reset" : "connection closed"));
      return;
    }
    if (!this.#replied) {
      p.callback(new Error(`SPDY stream ${this.id}: data before the stream was accepted`));
      return;
    }
    let offset = 0;
    while (offset < p.data.length) {
      const room = this.#session.sendRoom(this);
      if (room <= 0) {
        this.#pending = { ...p, data: p.data.subarray(offset) };
        this.#session.waitForWindow(this);
        return;
      }
      const size = Math.min(room, MAX_DATA_PAYLOAD, p.data.length - offset);
      const last = offset + size === p.data.length;
      this.#session.sendData(this, p.data.subarray(offset, offset + size), last && p.fin);
      offset += size;
    }
    if (p.data.length === 0) this.#session.sendData(this, p.data, p.fin);
    if (p.fin) {
      this.#localFin = true;
      this.#maybeDone();
    }
    this.#session.afterDrain(p.callback);
  }

  #maybeDone(): void {
    if (this.#localFin && this.#remoteFin) this.#session.forget(this);
  }
}

export class SpdySession {
  readonly #socket: Socket;
  readonly #options: SpdySessionOptions;
  readonly #reader = new FrameReader(MAX_FRAME);
  readonly #compressor = new HeaderCompressor();
  readonly #decompressor = new HeaderDecompressor();
  readonly #streams = new Map<number, SpdyStream>();
  readonly #waitingForWindow = new Set<SpdyStream>();
  readonly #blockedReaders = new Set<SpdyStream>();
  readonly #drainWaiters: Array<(err?: Error | null) => void> = [];
  /** Stream ids: a client's are odd, a server's even. */
  readonly #peerParity: number;
  #nextStreamId: number;
  #lastPeerStreamId = 0;
  #peerGoneAway = false;
  #sendWindow = INITIAL_WINDOW;
  #initialStreamWindow = INITIAL_WINDOW;
  #peerFlowControl = false;
  #receivedUnacknowledged = 0;
  #goneAway = false;
  #closed = false;
  #closing = false;
  #closeReported = false;

  /** `head`: bytes that arrived with the upgrade request, after its headers. */
  constructor(socket: Socket, head: Buffer, options: SpdySessionOptions) {
    this.#socket = socket;
    this.#options = options;
    this.#peerParity = options.role === "server" ? 1 : 0;
    this.#nextStreamId = options.role === "server" ? 2 : 1;
    socket.setNoDelay(true);
    if ((options.idleTimeoutMs ?? 0) > 0) {
      socket.setTimeout(options.idleTimeoutMs!, () => socket.destroy());
    }
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("error", () => {});
    socket.on("drain", () => this.#drained());
    socket.on("close", () => this.#onClose());
    // The peer sends no more frames: the connection is over (Kubernetes clients never
    // half-close it), and what we still write goes out before our side closes.
    socket.on("end", () => socket.end());
    if (head.length > 0) this.#onData(head);
  }

  get closed(): boolean {
    return this.#closed;
  }

  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * Ends the connection: GOAWAY, a reset for every stream still open (what was written
   * before is delivered first), then the socket is closed once the peer closes its side
   * or after a short linger.
   */
  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    this.#goAway(GoAwayStatus.Ok);
    for (const s of [...this.#streams.values()]) s.closeAtEnd();
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  /**
   * Opens a stream with `headers` (a client's SYN_STREAM). Data may be written at once;
   * the peer's refusal comes as a reset, which destroys the stream.
   */
  openStream(headers: Record<string, string>): SpdyStream {
    if (this.#options.role !== "client") throw new Error("SPDY: only a client session opens streams");
    if (this.#closed || this.#closing) throw new Error("SPDY connection closed");
    if (this.#peerGoneAway) throw new Error("SPDY: the server takes no more streams (GOAWAY)");
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const map: SpdyHeaders = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]]));
    const stream = new SpdyStream(this, id, map, this.#initialStreamWindow, true);
    this.#streams.set(id, stream);
    this.#write(synStreamFrame(id, 0, this.#compressor.compress(encodeHeaderBlock(map))));
    return stream;
  }

  /** @internal */
  sendReply(streamId: number): void {
    this.#write(synReplyFrame(streamId, 0, this.#compressor.compress(encodeHeaderBlock(new Map()))));
  }

  /** @internal */
  sendReset(streamId: number, status: number): void {
    this.#write(rstStreamFrame(streamId, status));
  }

  /** @internal */
  sendData(stream: SpdyStream, data: Buffer, fin: boolean): void {
    stream.sendWindow -= data.length;
    this.#sendWindow -= data.length;
    this.#write(dataFrame(stream.id, fin ? FLAG_FIN : 0, data));
  }

  /** @internal How many bytes `stream` may send now. */
  sendRoom(stream: SpdyStream): number {
    if (!this.#peerFlowControl) return Number.MAX_SAFE_INTEGER;
    return Math.min(stream.sendWindow, this.#sendWindow);
  }

  /** @internal */
  waitForWindow(stream: SpdyStream): void {
    this.#waitingForWindow.add(stream);
  }

  /** @internal Calls back once the socket has taken what was written (backpressure). */
  afterDrain(callback: (err?: Error | null) => void): void {
    if (this.#socket.writableNeedDrain) this.#drainWaiters.push(callback);
    else callback();
  }

  /** @internal WINDOW_UPDATEs for data the application has read. */
  acknowledge(streamId: number, bytes: number): void {
    if (this.#closed) return;
    this.#write(windowUpdateFrame(streamId, bytes));
    this.#receivedUnacknowledged += bytes;
    if (this.#receivedUnacknowledged >= WINDOW_ACK_THRESHOLD) {
      this.#write(windowUpdateFrame(0, this.#receivedUnacknowledged));
      this.#receivedUnacknowledged = 0;
    }
  }

  /** @internal */
  blockReading(stream: SpdyStream): void {
    this.#blockedReaders.add(stream);
    this.#socket.pause();
  }

  /** @internal */
  unblockReading(stream: SpdyStream): void {
    this.#blockedReaders.delete(stream);
    if (this.#blockedReaders.size === 0 && !this.#closed) this.#socket.resume();
  }

  /** @internal The stream is closed both ways (or destroyed): the session lets go of it. */
  forget(stream: SpdyStream): void {
    if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
    this.#waitingForWindow.delete(stream);
  }

  #write(frame: Buffer): void {
    if (this.#closed || this.#socket.destroyed || this.#socket.writableEnded) return;
    this.#socket.write(frame);
  }

  #drained(): void {
    for (const cb of this.#drainWaiters.splice(0)) cb();
  }

  #goAway(status: number): void {
    if (this.#goneAway) return;
    this.#goneAway = true;
    this.#write(goAwayFrame(this.#lastPeerStreamId, status));
  }

  #protocolError(err: Error): void {
    if (this.#closed) return;
    this.#options.onError?.(err);
    this.#goAway(GoAwayStatus.ProtocolError);
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), CLOSE_LINGER_MS).unref();
    this.#closed = true;
    this.#teardown();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    let frames: Frame[];
    try {
      frames = this.#reader.push(chunk);
    } catch (err) {
      this.#protocolError(err as Error);
      return;
    }
    for (const frame of frames) {
      if (this.#closed) return;
      try {
        if (frame.control) this.#onControl(frame);
        else this.#onDataFrame(frame.streamId, frame.flags, frame.data);
      } catch (err) {
        this.#protocolError(err as Error);
        return;
      }
    }
  }

  #onDataFrame(streamId: number, flags: number, data: Buffer): void {
    const stream = this.#streams.get(streamId);
    if (stream === undefined) {
      // Data in flight for a stream just reset or finished is dropped; an unknown id is an error.
      const never =
        streamId % 2 === this.#peerParity
          ? streamId > this.#lastPeerStreamId
          : streamId >= this.#nextStreamId;
      if (never) this.sendReset(streamId, RstStatus.InvalidStream);
      return;
    }
    stream.receive(data, (flags & FLAG_FIN) !== 0);
  }

  #onControl(frame: Extract<Frame, { control: true }>): void {
    const p = frame.payload;
    if (frame.version !== SPDY_VERSION) {
      throw new SpdyProtocolError(`SPDY version ${frame.version}: only 3 is spoken here`);
    }
    switch (frame.type) {
      case ControlType.SynStream: {
        if (p.length < 10) throw new SpdyProtocolError("SYN_STREAM frame too short");
        this.#onSynStream(p.readUInt32BE(0) & 0x7fffffff, frame.flags, p.subarray(10));
        return;
      }
      case ControlType.SynReply:
      case ControlType.Headers: {
        if (p.length < 4) throw new SpdyProtocolError("SYN_REPLY/HEADERS frame too short");
        const streamId = p.readUInt32BE(0) & 0x7fffffff;
        // Inflated only to keep the shared zlib stream in step; the server does not use them.
        this.#decompressor.decompress(p.subarray(4)).then(
          () => {
            if ((frame.flags & FLAG_FIN) !== 0) this.#streams.get(streamId)?.receiveFin();
          },
          (err: Error) => this.#protocolError(err),
        );
        return;
      }
      case ControlType.RstStream: {
        if (p.length < 8) throw new SpdyProtocolError("RST_STREAM frame too short");
        this.#streams.get(p.readUInt32BE(0) & 0x7fffffff)?.receiveReset();
        return;
      }
      case ControlType.Settings: {
        for (const { id, value } of parseSettings(p)) {
          if (id !== SettingsId.InitialWindowSize) continue;
          if (value > MAX_WINDOW) throw new SpdyProtocolError(`initial window ${value} too large`);
          const delta = value - this.#initialStreamWindow;
          this.#initialStreamWindow = value;
          this.#peerFlowControl = true;
          for (const s of this.#streams.values()) s.sendWindow += delta;
          this.#flushWaiting();
        }
        return;
      }
      case ControlType.Ping: {
        if (p.length < 4) throw new SpdyProtocolError("PING frame too short");
        const id = p.readUInt32BE(0);
        // Pings with the peer's parity are the peer's: echo them. Ours would be answers (none sent).
        if (id % 2 === this.#peerParity) this.#write(pingFrame(id));
        return;
      }
      case ControlType.GoAway:
        // The peer takes no more streams; those open run to their end.
        this.#goneAway = true;
        this.#peerGoneAway = true;
        return;
      case ControlType.WindowUpdate: {
        if (p.length < 8) throw new SpdyProtocolError("WINDOW_UPDATE frame too short");
        const streamId = p.readUInt32BE(0) & 0x7fffffff;
        const delta = p.readUInt32BE(4) & 0x7fffffff;
        this.#peerFlowControl = true;
        if (streamId === 0) {
          this.#sendWindow += delta;
          if (this.#sendWindow > MAX_WINDOW) throw new SpdyProtocolError("session window overflow");
          this.#flushWaiting();
        } else {
          const s = this.#streams.get(streamId);
          if (s !== undefined) {
            this.#waitingForWindow.delete(s);
            s.grant(delta);
          }
        }
        return;
      }
      default:
        // Unknown control frames are ignored (SPDY/3 §2.2.1).
        return;
    }
  }

  #onSynStream(streamId: number, flags: number, headerBlock: Buffer): void {
    const headers = this.#decompressor.decompress(headerBlock);
    let refuse: number | undefined;
    const onStream = this.#options.onStream;
    if (streamId === 0 || streamId % 2 !== this.#peerParity || streamId <= this.#lastPeerStreamId) {
      refuse = RstStatus.ProtocolError;
    } else if (onStream === undefined || this.#goneAway || this.#closing) {
      refuse = RstStatus.RefusedStream;
    } else if (this.#streams.size >= (this.#options.maxStreams ?? 1000)) {
      refuse = RstStatus.RefusedStream;
    }
    if (streamId > this.#lastPeerStreamId && streamId % 2 === this.#peerParity) {
      this.#lastPeerStreamId = streamId;
    }
    if (refuse !== undefined || onStream === undefined) {
      const status = refuse ?? RstStatus.RefusedStream;
      headers.then(
        () => this.sendReset(streamId, status),
        (err: Error) => this.#protocolError(err),
      );
      return;
    }
    const known: SpdyHeaders = new Map();
    const stream = new SpdyStream(this, streamId, known, this.#initialStreamWindow);
    this.#streams.set(streamId, stream);
    if ((flags & FLAG_FIN) !== 0) stream.receiveFin();
    headers.then(
      (h) => {
        for (const [k, v] of h) known.set(k, v);
        if (stream.destroyed) return;
        onStream(stream);
      },
      (err: Error) => this.#protocolError(err),
    );
  }

  #flushWaiting(): void {
    for (const s of [...this.#waitingForWindow]) {
      if (this.sendRoom(s) <= 0) continue;
      this.#waitingForWindow.delete(s);
      s.flushPending();
    }
  }

  #teardown(): void {
    for (const s of [...this.#streams.values()]) s.destroy();
    this.#streams.clear();
    this.#decompressor.close();
    this.#drained();
  }

  #onClose(): void {
    this.#closed = true;
    this.#teardown();
    if (this.#closeReported) return;
    this.#closeReported = true;
    this.#options.onClose?.();
  }
}

/** All that `stream` carries; undefined when it closes without its end (reset, connection lost). */
export function readToEnd(stream: Readable): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => {
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("close", () => resolve(stream.readableEnded ? Buffer.concat(chunks) : undefined));
  });
}
