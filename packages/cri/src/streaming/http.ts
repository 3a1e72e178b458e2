// Plain HTTP answers on a connection taken over for an upgrade (Node hands the raw socket
// to 'upgrade' listeners, so the response is written by hand).

import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";

/** Writes a short text response and closes the connection. */
export function rejectUpgrade(
  socket: Socket,
  status: number,
  message: string,
  headers: Record<string, string | string[]> = {},
): void {
  const body = Buffer.from(`${message}\n`);
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  lines.push(
    "Content-Type: text/plain; charset=utf-8",
    `Content-Length: ${body.length}`,
    "Connection: close",
    "",
    "",
  );
  socket.end(Buffer.concat([Buffer.from(lines.join("\r\n")), body]));
  setTimeout(() => socket.destroy(), 2_000).unref();
}
