// SPDY/3.1 frames on the wire. Every frame has an 8-byte header: a control frame starts
// with the control bit, the version (3) and its type; a data frame with a 31-bit stream id.
// The second word is 8 bits of flags and a 24-bit length of what follows.

export const SPDY_VERSION = 3;

export const ControlType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

export const FLAG_FIN = 0x01;
/** SYN_STREAM: the sender will not receive on this stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  UnsupportedVersion: 4,
  Cancel: 5,
  InternalError: 6,
  FlowControlError: 7,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
  FrameTooLarge: 11,
} as const;

export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

export const SettingsId = { MaxConcurrentStreams: 4, InitialWindowSize: 7 } as const;

/** Both the stream and the session window start at 64 KiB in SPDY/3.1. */
export const INITIAL_WINDOW = 65_536;
export const MAX_WINDOW = 0x7fffffff;
export const HEADER_LENGTH = 8;

export type Frame =
  | { control: false; streamId: number; flags: number; data: Buffer }
  | { control: true; version: number; type: number; flags: number; payload: Buffer };

export class SpdyProtocolError extends Error {
  override name = "SpdyProtocolError";
}

/** Splits a byte stream into frames; a frame longer than `maxLength` is a protocol error. */
export class FrameReader {
  readonly #maxLength: number;
  #buffered: Buffer[] = [];
  #length = 0;

  constructor(maxLength: number) {
    this.#maxLength = maxLength;
  }

  /** Adds bytes; returns the frames they complete. */
  push(chunk: Buffer): Frame[] {
    this.#buffered.push(chunk);
    this.#length += chunk.length;
    const frames: Frame[] = [];
    if (this.#length < HEADER_LENGTH) return frames;
    let buf = this.#buffered.length === 1 ? this.#buffered[0]! : Buffer.concat(this.#buffered);
    let offset = 0;
    while (buf.length - offset >= HEADER_LENGTH) {
      const first = buf.readUInt32BE(offset);
      const flags = buf[offset + 4]!;
      const length = buf.readUIntBE(offset + 5, 3);
      if (length > this.#maxLength) {
        throw new SpdyProtocolError(`frame of ${length} bytes is over the limit of ${this.#maxLength}`);
      }
      if (buf.length - offset - HEADER_LENGTH < length) break;
      const body = buf.subarray(offset + HEADER_LENGTH, offset + HEADER_LENGTH + length);
      if ((first & 0x80000000) !== 0) {
        frames.push({
          control: true,
          version: (first >>> 16) & 0x7fff,
          type: first & 0xffff,
          flags,
          payload: body,
        });
      } else {
        frames.push({ control: false, streamId: first & 0x7fffffff, flags, data: body });
      }
      offset += HEADER_LENGTH + length;
    }
    buf = buf.subarray(offset);
    this.#buffered = buf.length > 0 ? [buf] : [];
    this.#length = buf.length;
    return frames;
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_LENGTH);
  head.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  head.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([head, payload]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const head = Buffer.alloc(HEADER_LENGTH);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(((flags << 24) | data.length) >>> 0, 4);
  return data.length === 0 ? head : Buffer.concat([head, data]);
}

/** SYN_REPLY: stream id, then the compressed header block. */
export function synReplyFrame(streamId: number, flags: number, headerBlock: Buffer): Buffer {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(streamId & 0x7fffffff);
  return controlFrame(ControlType.SynReply, flags, Buffer.concat([id, headerBlock]));
}

/** SYN_STREAM: stream id, associated stream id, priority (3 bits) and slot, then the header block. */
export function synStreamFrame(
  streamId: number,
  flags: number,
  headerBlock: Buffer,
  priority = 0,
  associatedTo = 0,
): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt32BE(streamId & 0x7fffffff, 0);
  fixed.writeUInt32BE(associatedTo & 0x7fffffff, 4);
  fixed[8] = (priority & 0x07) << 5;
  fixed[9] = 0;
  return controlFrame(ControlType.SynStream, flags, Buffer.concat([fixed, headerBlock]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(ControlType.RstStream, 0, p);
}

export function pingFrame(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0);
  return controlFrame(ControlType.Ping, 0, p);
}

export function goAwayFrame(lastGoodStreamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(ControlType.GoAway, 0, p);
}

/** WINDOW_UPDATE for a stream, or for the whole session with stream id 0 (SPDY/3.1). */
export function windowUpdateFrame(streamId: number, delta: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(delta & 0x7fffffff, 4);
  return controlFrame(ControlType.WindowUpdate, 0, p);
}

export function settingsFrame(entries: Array<{ id: number; value: number; flags?: number }>): Buffer {
  const p = Buffer.alloc(4 + entries.length * 8);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    p.writeUInt32BE((((e.flags ?? 0) << 24) | (e.id & 0xffffff)) >>> 0, 4 + i * 8);
    p.writeUInt32BE(e.value >>> 0, 8 + i * 8);
  });
  return controlFrame(ControlType.Settings, 0, p);
}

/** The id/value pairs of a SETTINGS payload. */
export function parseSettings(payload: Buffer): Array<{ id: number; value: number }> {
  if (payload.length < 4) throw new SpdyProtocolError("SETTINGS frame too short");
  const count = payload.readUInt32BE(0);
  if (payload.length < 4 + count * 8) throw new SpdyProtocolError("SETTINGS frame too short for its entries");
  const out: Array<{ id: number; value: number }> = [];
  for (let i = 0; i < count; i++) {
    out.push({ id: payload.readUInt32BE(4 + i * 8) & 0xffffff, value: payload.readUInt32BE(8 + i * 8) });
  }
  return out;
}
