// Kubernetes' channel protocols over a WebSocket: every message starts with the number of
// its channel. `channel.k8s.io` (and its v4/v5 versions, and `portforward.k8s.io`) send the
// byte itself followed by raw data in binary messages; `base64.channel.k8s.io` sends the
// digit '0'+channel followed by base64 in text messages. In v5 a client message
// [255, n] closes channel n (the client will send no more on it: stdin's EOF).

import type { Socket } from "node:net";
import { Readable, Writable } from "node:stream";
import { WebSocketConnection } from "./websocket.js";

export const CLOSE_CHANNEL = 255;

export interface ChannelCodec {
  base64: boolean;
  /** Honours v5's close message. */
  closeSignal: boolean;
}

/** What the client sends on one channel. */
class ChannelReader extends Readable {
  readonly #mux: WebSocketChannels;
  blocking = false;
  /** The client will send no more on this channel. */
  finished = false;

  constructor(mux: WebSocketChannels) {
    super({ highWaterMark: 256 * 1024 });
    this.#mux = mux;
    this.on("error", () => {});
  }

  override _read(): void {
    if (!this.blocking) return;
    this.blocking = false;
    this.#mux.unblock(this);
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.push(null);
  }
}

export interface WebSocketChannelsOptions {
  codec: ChannelCodec;
  /** The channels the client may send on; messages on others are dropped. */
  readable: number[];
  idleTimeoutMs?: number;
  /** The connection is gone (every readable channel has ended). */
  onClose?(): void;
}

/** An accepted WebSocket, split into channels. */
export class WebSocketChannels {
  readonly ws: WebSocketConnection;
  readonly #codec: ChannelCodec;
  readonly #readers = new Map<number, ChannelReader>();
  readonly #blocked = new Set<ChannelReader>();

  constructor(socket: Socket, head: Buffer, options: WebSocketChannelsOptions) {
    this.#codec = options.codec;
    for (const ch of options.readable) this.#readers.set(ch, new ChannelReader(this));
    this.ws = new WebSocketConnection(socket, head, {
      idleTimeoutMs: options.idleTimeoutMs,
      onMessage: (data) => this.#onMessage(data),
      onClose: () => {
        this.#end();
        options.onClose?.();
      },
    });
  }

  /** The stream of what the client sends on `channel` (one of the readable ones). */
  reader(channel: number): Readable {
    const r = this.#readers.get(channel);
    if (r === undefined) throw new Error(`channel ${channel} is not readable`);
    return r;
  }

  /** A stream whose writes go out as messages on `channel`. */
  writer(channel: number): Writable {
    const w = new Writable({
      write: (chunk: Buffer, _enc, callback) => {
        this.send(channel, chunk).then(
          () => callback(),
          (err: Error) => callback(err),
        );
      },
    });
    w.on("error", () => {});
    return w;
  }

  /** Sends one message on `channel` (an empty one too: it tells the client the channel is there). */
  send(channel: number, data: Buffer): Promise<void> {
    if (this.#codec.base64) {
      return this.ws.send(Buffer.from(String.fromCharCode(48 + channel) + data.toString("base64")), false);
    }
    return this.ws.send(Buffer.concat([Buffer.from([channel]), data]));
  }

  #onMessage(message: Buffer): void {
    if (message.length === 0) return;
    let channel = message[0]!;
    let data = message.subarray(1);
    if (this.#codec.closeSignal && channel === CLOSE_CHANNEL && !this.#codec.base64) {
      if (data.length === 1) this.#readers.get(data[0]!)?.finish();
      return;
    }
    if (this.#codec.base64) {
      channel -= 48;
      data = Buffer.from(data.toString("latin1"), "base64");
    }
    const reader = this.#readers.get(channel);
    if (reader === undefined || reader.finished || reader.destroyed) return;
    if (data.length === 0) return;
    if (!reader.push(data) && !reader.blocking) {
      reader.blocking = true;
      this.#blocked.add(reader);
      this.ws.pause();
    }
  }

  #end(): void {
    for (const r of this.#readers.values()) r.finish();
    this.#blocked.clear();
  }

  /** @internal */
  unblock(reader: ChannelReader): void {
    this.#blocked.delete(reader);
    if (this.#blocked.size === 0) this.ws.resume();
  }
}
