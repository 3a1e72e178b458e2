// The child process that opens TCP connections inside a pod's network namespace for
// port forwarding. berth-cri starts it under `nsenter --net=<pinned netns>`, so every
// socket it makes belongs to the pod; each connection is handed back over the IPC
// channel (the descriptor travels, the child keeps nothing) and the child only dials.
// It exits when berth-cri disconnects.
//
// Request: {id, port}. Answer: {id} with the connected socket, or {id, error}.

import net from "node:net";

const CONNECT_TIMEOUT_MS = 10_000;

interface DialRequest {
  id: number;
  port: number;
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    // Nothing may be read here: bytes the pod sends first must reach berth-cri's copy.
    socket.pause();
    const timer = setTimeout(
      () => socket.destroy(new Error(`connect timeout after ${CONNECT_TIMEOUT_MS}ms`)),
      CONNECT_TIMEOUT_MS,
    );
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** localhost in the pod: IPv4 first, then IPv6 when nothing listens on IPv4. */
async function dialLocalhost(port: number): Promise<net.Socket> {
  try {
    return await connect("127.0.0.1", port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ECONNREFUSED" && code !== "EADDRNOTAVAIL") throw err;
    try {
      return await connect("::1", port);
    } catch {
      throw err;
    }
  }
}

function answer(message: object, socket?: net.Socket): void {
  if (!process.connected) {
    socket?.destroy();
    return;
  }
  process.send?.(message, socket, { keepOpen: false }, (err) => {
    if (err) socket?.destroy();
  });
}

process.on("message", (raw) => {
  const req = raw as DialRequest;
  if (typeof req?.id !== "number" || !Number.isInteger(req.port) || req.port < 1 || req.port > 65535) return;
  dialLocalhost(req.port).then(
    (socket) => answer({ id: req.id }, socket),
    (err: Error) => answer({ id: req.id, error: err.message }),
  );
});
process.on("disconnect", () => process.exit(0));
