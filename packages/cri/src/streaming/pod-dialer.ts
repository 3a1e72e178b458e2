// TCP connections to localhost in a pod, for port forwarding. A pod on the node's network
// is dialled from berth-cri itself; for a pod with a network namespace, one helper
// process per forwarding session lives in that namespace (netns-dialer.ts, entered with
// util-linux's nsenter) and hands back each connection it opens.

import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";

const DIALER_SCRIPT = fileURLToPath(new URL("./netns-dialer.js", import.meta.url));
const DIAL_TIMEOUT_MS = 15_000;

export interface PodDialer {
  /** A connection to localhost:`port` in the pod. */
  dial(port: number): Promise<net.Socket>;
  close(): void;
}

function connectHere(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** localhost in the node's own network namespace (host-network pods). */
class HostDialer implements PodDialer {
  async dial(port: number): Promise<net.Socket> {
    try {
      return await connectHere("127.0.0.1", port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ECONNREFUSED") throw err;
      return await connectHere("::1", port).catch(() => Promise.reject(err));
    }
  }
  close(): void {}
}

interface Pending {
  resolve(socket: net.Socket): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

class NetnsDialer implements PodDialer {
  readonly #netnsPath: string;
  #child: ChildProcess | undefined;
  #stderr = "";
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #closed = false;

  constructor(netnsPath: string) {
    this.#netnsPath = netnsPath;
  }

  dial(port: number): Promise<net.Socket> {
    if (this.#closed) return Promise.reject(new Error("port forwarding session closed"));
    const child = this.#ensureChild();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no connection to port ${port} after ${DIAL_TIMEOUT_MS}ms`));
      }, DIAL_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
      child.send({ id, port }, (err) => {
        if (err) this.#settle(id, new Error(`cannot reach the dialer in ${this.#netnsPath}: ${err.message}`));
      });
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const child = this.#child;
    this.#child = undefined;
    if (child !== undefined) {
      if (child.connected) child.disconnect();
      child.kill();
    }
    this.#failAll(new Error("port forwarding session closed"));
  }

  #ensureChild(): ChildProcess {
    if (this.#child !== undefined) return this.#child;
    this.#stderr = "";
    const child = spawn("nsenter", [`--net=${this.#netnsPath}`, "--", process.execPath, DIALER_SCRIPT], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      serialization: "json",
    });
    this.#child = child;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      if (this.#stderr.length < 4096) this.#stderr += s;
    });
    child.on("message", (msg: { id?: number; error?: string }, handle: unknown) => {
      if (typeof msg?.id !== "number") return;
      if (handle instanceof net.Socket) this.#settle(msg.id, handle);
      else this.#settle(msg.id, new Error(msg.error ?? "no connection"));
    });
    child.on("error", (err) => this.#lost(child, err.message));
    child.on("exit", (code, signal) => this.#lost(child, `exited ${code ?? signal}`));
    return child;
  }

  #lost(child: ChildProcess, how: string): void {
    if (this.#child === child) this.#child = undefined;
    const detail = this.#stderr.trim();
    this.#failAll(
      new Error(
        `the dialer in network namespace ${this.#netnsPath} ${how}${detail === "" ? "" : `: ${detail}`}`,
      ),
    );
  }

  #settle(id: number, result: net.Socket | Error): void {
    const p = this.#pending.get(id);
    if (p === undefined) {
      if (result instanceof net.Socket) result.destroy();
      return;
    }
    this.#pending.delete(id);
    clearTimeout(p.timer);
    if (result instanceof net.Socket) p.resolve(result);
    else p.reject(result);
  }

  #failAll(err: Error): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, err);
  }
}

/** A dialer into the pod whose network namespace is pinned at `netnsPath` ("" = the node's). */
export function podDialer(netnsPath: string): PodDialer {
  return netnsPath === "" ? new HostDialer() : new NetnsDialer(netnsPath);
}
