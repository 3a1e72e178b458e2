import { Code, TtrpcError } from "./status.js";

/** Bytes in every frame header: length u32, stream id u32, type u8, flags u8, big-endian. */
export const HEADER_LENGTH = 10;
/** Largest payload a frame may carry (4 MiB), the same limit as upstream. */
export const MAX_PAYLOAD_LENGTH = 4 << 20;

export const MessageType = {
  REQUEST: 1,
  RESPONSE: 2,
  DATA: 3,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Flags used by streaming frames; unary requests and all responses carry 0. */
export const Flags = {
  REMOTE_CLOSED: 0x1,
  REMOTE_OPEN: 0x2,
  NO_DATA: 0x4,
} as const;

export interface FrameHeader {
  /** Payload bytes, not counting the header. */
  length: number;
  streamId: number;
  /** A MessageType; other values are passed through so peers can ignore them. */
  type: number;
  flags: number;
}

export function oversizedError(length: number): TtrpcError {
  return new TtrpcError(
    Code.RESOURCE_EXHAUSTED,
    `message length ${length} exceed maximum message size of ${MAX_PAYLOAD_LENGTH}`,
  );
}

export function encodeHeader(
  header: FrameHeader,
  target = Buffer.allocUnsafe(HEADER_LENGTH),
  offset = 0,
): Buffer {
  target.writeUInt32BE(header.length, offset);
  target.writeUInt32BE(header.streamId, offset + 4);
  target.writeUInt8(header.type, offset + 8);
  target.writeUInt8(header.flags, offset + 9);
  return target;
}

export function decodeHeader(source: Uint8Array, offset = 0): FrameHeader {
  if (source.length - offset < HEADER_LENGTH) throw new RangeError("ttrpc: short frame header");
  const view = new DataView(source.buffer, source.byteOffset + offset, HEADER_LENGTH);
  return {
    length: view.getUint32(0),
    streamId: view.getUint32(4),
    type: view.getUint8(8),
    flags: view.getUint8(9),
  };
}

/** One buffer holding header and payload, ready for a single socket write. Throws RESOURCE_EXHAUSTED when too large. */
export function encodeFrame(streamId: number, type: number, flags: number, payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD_LENGTH) throw oversizedError(payload.length);
  const frame = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  encodeHeader({ length: payload.length, streamId, type, flags }, frame);
  frame.set(payload, HEADER_LENGTH);
  return frame;
}

export interface FrameHandlers {
  onFrame(header: FrameHeader, payload: Buffer): void;
  /** A frame above MAX_PAYLOAD_LENGTH: its payload is skipped and parsing goes on, as upstream does. */
  onOversized(header: FrameHeader): void;
}

/**
 * Turns socket chunks into frames, whatever the chunk boundaries. A frame that lies whole inside
 * a chunk is handed out as a view of it; a payload split across chunks is copied once into a
 * buffer of its final size.
 */
export class FrameParser {
  readonly #handlers: FrameHandlers;
  #headerBytes: Buffer | undefined; // allocated on the first header split across chunks
  #headerFill = 0;
  #header: FrameHeader | undefined; // set while a payload is being collected or skipped
  #payload: Buffer | undefined;
  #payloadFill = 0;
  #skip = 0;

  constructor(handlers: FrameHandlers) {
    this.#handlers = handlers;
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#header === undefined;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const header = this.#header;
      if (header === undefined) {
        if (this.#headerFill === 0 && chunk.length - pos >= HEADER_LENGTH) {
          pos = this.#begin(decodeHeader(chunk, pos), chunk, pos + HEADER_LENGTH);
          continue;
        }
        this.#headerBytes ??= Buffer.allocUnsafe(HEADER_LENGTH);
        const n = Math.min(HEADER_LENGTH - this.#headerFill, chunk.length - pos);
        chunk.copy(this.#headerBytes, this.#headerFill, pos, pos + n);
        this.#headerFill += n;
        pos += n;
        if (this.#headerFill === HEADER_LENGTH) {
          this.#headerFill = 0;
          pos = this.#begin(decodeHeader(this.#headerBytes), chunk, pos);
        }
        continue;
      }
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - pos);
        this.#skip -= n;
        pos += n;
        if (this.#skip === 0) {
          this.#header = undefined;
          this.#handlers.onOversized(header);
        }
        continue;
      }
      const payload = this.#payload!;
      const n = Math.min(payload.length - this.#payloadFill, chunk.length - pos);
      chunk.copy(payload, this.#payloadFill, pos, pos + n);
      this.#payloadFill += n;
      pos += n;
      if (this.#payloadFill === payload.length) {
        this.#header = undefined;
        this.#payload = undefined;
        this.#handlers.onFrame(header, payload);
      }
    }
  }

  // Starts the frame whose payload begins at chunk[pos]; returns the position after what it consumed.
  #begin(header: FrameHeader, chunk: Buffer, pos: number): number {
    const available = chunk.length - pos;
    if (header.length > MAX_PAYLOAD_LENGTH) {
      if (available >= header.length) {
        this.#handlers.onOversized(header);
        return pos + header.length;
      }
      this.#header = header;
      this.#skip = header.length - available;
      return chunk.length;
    }
    if (available >= header.length) {
      this.#handlers.onFrame(header, chunk.subarray(pos, pos + header.length));
      return pos + header.length;
    }
    this.#header = header;
    this.#payload = Buffer.allocUnsafe(header.length);
    this.#payloadFill = available;
    chunk.copy(this.#payload, 0, pos);
    return chunk.length;
  }
}
