// The client's end of port forwarding, as kubectl and crictl run it: the URL from
// PortForward upgraded once to SPDY/3.1 with protocol portforward.k8s.io, then for each
// connection to carry, a pair of streams with the same `port` and `requestID` headers: an
// error stream (the server writes why it could not reach the port, if it could not) and a
// data stream joined to the connection, half-closes passed on both ways.

import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { SpdySession, type SpdyStream, readToEnd } from "./spdy/session.js";
import { upgradeToSpdy } from "./upgrade.js";

export const PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

/** The server could not carry one connection (its words on the error stream). */
export class PortForwardError extends Error {
  constructor(
    readonly port: number,
    message: string,
  ) {
    super(message);
    this.name = "PortForwardError";
  }
}

/** One connection to a pod's ports, shared by every forwarded connection. */
export class PortForward {
  readonly #session: SpdySession;
  #nextRequestId = 0;
  /** Resolves when the connection to the streaming server is gone. */
  readonly closed: Promise<void>;

  /** Upgrades `url` (from PortForward). */
  static async open(url: string, call: { signal?: AbortSignal } = {}): Promise<PortForward> {
    const { socket, head } = await upgradeToSpdy(url, [PORT_FORWARD_PROTOCOL], call);
    return new PortForward(socket, head);
  }

  /** Runs on a connection already upgraded to SPDY/3.1 (portforward.k8s.io). */
  constructor(socket: Socket, head: Buffer) {
    let onClose: () => void = () => {};
    this.closed = new Promise((resolve) => {
      onClose = resolve;
    });
    this.#session = new SpdySession(socket, head, { role: "client", onClose: () => onClose() });
  }

  /**
   * Carries `conn` to `port` in the pod until both directions are done. Rejects with a
   * PortForwardError when the server reports a failure (`conn` is destroyed then), or
   * when the connection to the server is lost.
   */
  async forward(conn: Duplex, port: number): Promise<void> {
    const headers = { port: String(port), requestID: String(this.#nextRequestId++) };
    let errors: SpdyStream;
    let data: SpdyStream;
    try {
      errors = this.#session.openStream({ streamType: "error", ...headers });
      data = this.#session.openStream({ streamType: "data", ...headers });
    } catch (err) {
      conn.destroy();
      throw new PortForwardError(
        port,
        `the connection to the streaming server is closed (${(err as Error).message})`,
      );
    }
    // The client writes nothing on the error stream.
    errors.end();
    const report = readToEnd(errors).then((b) => b?.toString("utf8").trim());
    conn.on("error", () => {});
    conn.pipe(data);
    data.pipe(conn);
    // A connection that breaks resets the stream; a stream that breaks drops the connection.
    conn.once("close", () => {
      if (!data.writableEnded) data.destroy();
    });
    data.once("close", () => {
      if (!data.readableEnded) conn.destroy();
    });
    const failure = report.then((text) => {
      if (text !== undefined && text !== "") {
        conn.destroy();
        data.destroy();
      }
      return text;
    });
    await Promise.all([closedPromise(conn), closedPromise(data)]);
    const text = await failure;
    if (text === undefined) {
      throw new PortForwardError(port, "the connection to the streaming server was lost");
    }
    if (text !== "") throw new PortForwardError(port, text);
  }

  /** Ends every forwarded connection and the session. */
  close(): void {
    this.#session.close();
  }
}

function closedPromise(stream: Duplex): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed) resolve();
    else stream.once("close", () => resolve());
  });
}
