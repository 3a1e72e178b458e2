// Port forwarding into a pod, over SPDY or WebSocket.
//
// SPDY (portforward.k8s.io): each forwarded connection is a pair of client streams with
// the same `requestid` and `port` headers, one with streamtype `data`, one `error`. The
// pair waits (bounded) for both halves, then the data stream is joined to a new TCP
// connection to localhost:port in the pod; a failure is written on the error stream.
// Half-closes pass through both ways; both streams are finished when the connection is.
//
// WebSocket: the ports come with the request; port i has channel 2i for data and 2i+1
// for errors, each first carrying the port as two little-endian bytes, and one
// connection per port for the life of the WebSocket.

import type { IncomingMessage } from "node:http";
import type net from "node:net";
import { Duplex, type Writable } from "node:stream";
import type { PortForwardRequest } from "@berth/api/cri/runtime/v1/api";
import { errorMessage } from "@berth/client";
import { RstStatus } from "@berth/client/streaming/spdy/frames";
import { SpdySession, type SpdyStream } from "@berth/client/streaming/spdy/session";
import type { Cri } from "../cri.js";
import { WebSocketChannels } from "./channels.js";
import { rejectUpgrade } from "./http.js";
import { type PodDialer, podDialer } from "./pod-dialer.js";
import { type UpgradeTimeouts, acceptSpdy } from "./remote-command.js";
import { acceptWebSocket, isWebSocketRequest } from "./websocket.js";

export const SPDY_PORT_FORWARD_PROTOCOLS = ["portforward.k8s.io"] as const;
export const WEBSOCKET_PORT_FORWARD_PROTOCOLS = [
  "portforward.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "",
] as const;

/** Streams one port forwarding session may hold open (two per connection). */
const MAX_STREAMS = 2000;

export function servePortForward(
  cri: Cri,
  request: PortForwardRequest,
  req: IncomingMessage,
  socket: net.Socket,
  head: Buffer,
  timeouts: UpgradeTimeouts,
): { close(): void } | undefined {
  const sandbox = cri.sandboxes.find(request.podSandboxId);
  if (sandbox === undefined) {
    rejectUpgrade(socket, 404, `sandbox ${request.podSandboxId} not found`);
    return undefined;
  }
  const pod = sandbox.meta.id;
  const log = cri.log.child({ module: "streaming", call: "portforward", pod });
  const dialer = podDialer(sandbox.meta.netnsPath);
  const forward = async (port: number, data: Duplex, errors: Writable): Promise<void> => {
    const s = cri.sandboxes.find(pod);
    if (s === undefined || s.state !== "ready") throw new Error(`sandbox ${pod} is not ready`);
    const conn = await dialer.dial(port);
    await join(data, conn);
    errors.end();
  };
  const report = (port: number, errors: Writable, err: unknown) => {
    const msg = `error forwarding port ${port} to pod ${pod}, uid : ${errorMessage(err)}`;
    log.debug("port forward failed", { port, error: errorMessage(err) });
    if (!errors.destroyed && !errors.writableEnded) errors.end(Buffer.from(msg));
  };
  if (isWebSocketRequest(req)) {
    return serveWebSocket(request, req, socket, head, timeouts, dialer, forward, report);
  }
  return serveSpdy(req, socket, head, timeouts, dialer, forward, report);
}

type Forward = (port: number, data: Duplex, errors: Writable) => Promise<void>;
type Report = (port: number, errors: Writable, err: unknown) => void;

/**
 * Copies both ways between the client's data stream and the pod's connection. The
 * client's FIN half-closes the connection (the pod may still answer); the pod closing
 * ends the data stream; either side going away ends both.
 */
function join(data: Duplex, conn: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      conn.destroy();
      if (!data.writableEnded && !data.destroyed) data.end();
      resolve();
    };
    conn.on("error", () => {});
    // The client may have reset the stream while the connection was being made.
    if (data.destroyed) {
      finish();
      return;
    }
    data.pipe(conn);
    conn.pipe(data);
    conn.once("close", finish);
    data.once("close", finish);
  });
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function serveSpdy(
  req: IncomingMessage,
  socket: net.Socket,
  head: Buffer,
  timeouts: UpgradeTimeouts,
  dialer: PodDialer,
  forward: Forward,
  report: Report,
): { close(): void } | undefined {
  if (acceptSpdy(req, socket, SPDY_PORT_FORWARD_PROTOCOLS) === undefined) {
    dialer.close();
    return undefined;
  }
  interface Pair {
    data?: SpdyStream;
    error?: SpdyStream;
    timer: NodeJS.Timeout;
  }
  const pairs = new Map<string, Pair>();
  const session = new SpdySession(socket, head, {
    role: "server",
    idleTimeoutMs: timeouts.idleTimeoutMs,
    maxStreams: MAX_STREAMS,
    onClose: () => {
      for (const p of pairs.values()) clearTimeout(p.timer);
      pairs.clear();
      dialer.close();
    },
    onStream: (stream) => {
      const port = parsePort(stream.header("port"));
      const type = stream.header("streamtype");
      if (port === undefined || (type !== "data" && type !== "error")) {
        stream.reset(RstStatus.RefusedStream);
        return;
      }
      // Clients too old to send a request id: their two streams have consecutive odd ids.
      const requestId = stream.header("requestid") ?? String(type === "error" ? stream.id : stream.id - 2);
      let pair = pairs.get(requestId);
      if (pair === undefined) {
        const created: Pair = {
          timer: setTimeout(() => {
            pairs.delete(requestId);
            if (created.error !== undefined) {
              report(
                port,
                created.error,
                new Error(`timed out waiting for the other stream of request ${requestId}`),
              );
            }
            created.data?.reset();
          }, timeouts.streamCreationTimeoutMs),
        };
        pair = created;
        pairs.set(requestId, pair);
      }
      if (pair[type] !== undefined) {
        stream.reset(RstStatus.ProtocolError);
        return;
      }
      pair[type] = stream;
      stream.accept();
      // The client writes nothing on the error stream; whatever comes is dropped.
      if (type === "error") stream.resume();
      const { data, error } = pair;
      if (data === undefined || error === undefined) return;
      clearTimeout(pair.timer);
      pairs.delete(requestId);
      forward(port, data, error).catch((err) => {
        report(port, error, err);
        data.end();
      });
    },
  });
  return { close: () => session.destroy() };
}

function serveWebSocket(
  request: PortForwardRequest,
  req: IncomingMessage,
  socket: net.Socket,
  head: Buffer,
  timeouts: UpgradeTimeouts,
  dialer: PodDialer,
  forward: Forward,
  report: Report,
): { close(): void } | undefined {
  let ports = request.port;
  if (ports.length === 0) {
    const query = new URL(req.url ?? "/", "http://localhost").searchParams.getAll("ports");
    const parsed = query.flatMap((q) => q.split(",")).map((p) => parsePort(p.trim()));
    if (parsed.length === 0 || parsed.some((p) => p === undefined)) {
      rejectUpgrade(socket, 400, 'query parameter "ports" is required, each a port number in 1-65535');
      dialer.close();
      return undefined;
    }
    ports = parsed as number[];
  }
  const accepted = acceptWebSocket(req, socket, WEBSOCKET_PORT_FORWARD_PROTOCOLS);
  if (accepted === undefined) {
    dialer.close();
    return undefined;
  }
  const mux = new WebSocketChannels(socket, head, {
    codec: { base64: accepted.protocol.includes("base64"), closeSignal: false },
    readable: ports.map((_, i) => 2 * i),
    idleTimeoutMs: timeouts.idleTimeoutMs,
    onClose: () => dialer.close(),
  });
  const forwards = ports.map(async (port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    await mux.send(2 * i, portBytes);
    await mux.send(2 * i + 1, portBytes);
    const errors = mux.writer(2 * i + 1);
    const data = Duplex.from({ readable: mux.reader(2 * i), writable: mux.writer(2 * i) });
    data.on("error", () => {});
    await forward(port, data, errors).catch((err) => report(port, errors, err));
  });
  Promise.all(forwards).then(
    () => mux.ws.close(),
    () => mux.ws.close(),
  );
  return { close: () => mux.ws.close() };
}
