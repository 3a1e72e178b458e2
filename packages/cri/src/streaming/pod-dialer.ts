// TCP connections to localhost in a pod, for port forwarding. A pod on the node's network
// is dialled as any local port; for a pod with a network namespace, each socket is made
// inside the pod's pinned namespace (sys/libc.ts tcpSocketInNetns) and then connected
// from berth-cri as usual: no helper process, and the connection is berth-cri's own.

import net from "node:net";
import { tcpSocketInNetns } from "../sys/libc.js";

const DIAL_TIMEOUT_MS = 15_000;

export interface PodDialer {
  /** A connection to localhost:`port` in the pod. */
  dial(port: number): Promise<net.Socket>;
  close(): void;
}

/** Connects `socket` (new, or made around an existing descriptor) to host:port, within the dial timeout. */
function connect(socket: net.Socket, host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no connection to port ${port} after ${DIAL_TIMEOUT_MS}ms`));
    }, DIAL_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
    socket.connect(port, host);
  });
}

/** localhost: IPv4 first, then IPv6 when nothing listens on IPv4. */
async function dialLocalhost(
  make: (family: 4 | 6) => Promise<net.Socket>,
  port: number,
): Promise<net.Socket> {
  try {
    return await connect(await make(4), "127.0.0.1", port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ECONNREFUSED" && code !== "EADDRNOTAVAIL") throw err;
    try {
      return await connect(await make(6), "::1", port);
    } catch {
      throw err;
    }
  }
}

/** localhost in the node's own network namespace (host-network pods). */
class HostDialer implements PodDialer {
  dial(port: number): Promise<net.Socket> {
    return dialLocalhost(async () => new net.Socket(), port);
  }
  close(): void {}
}

/** localhost in the pod's network namespace, pinned at `netnsPath`. */
class NetnsDialer implements PodDialer {
  readonly #netnsPath: string;
  #closed = false;

  constructor(netnsPath: string) {
    this.#netnsPath = netnsPath;
  }

  dial(port: number): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(new Error("port forwarding session closed"));
    return dialLocalhost(async (family) => {
      const fd = await tcpSocketInNetns(this.#netnsPath, family);
      // Not read until connected: manualStart keeps Node from reading an unconnected socket.
      return new net.Socket({ fd, manualStart: true } as net.SocketConstructorOpts);
    }, port);
  }

  close(): void {
    this.#closed = true;
  }
}

/** A dialer into the pod whose network namespace is pinned at `netnsPath` ("" = the node's). */
export function podDialer(netnsPath: string): PodDialer {
  return netnsPath === "" ? new HostDialer() : new NetnsDialer(netnsPath);
}
