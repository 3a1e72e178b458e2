// The client's side of the upgrade that starts a streaming session: an HTTP request to a
// URL from Exec, Attach or PortForward, answered with 101 and SPDY/3.1 on the same
// connection, the sub-protocol agreed through X-Stream-Protocol-Version. Any other answer
// (404 for a used or expired token, 403 for no protocol in common) is an UpgradeRefusedError.

import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { BerthError } from "../errdefs.js";

export const STREAM_PROTOCOL_HEADER = "X-Stream-Protocol-Version";
/** What an error answer's body may hold, at most, to be quoted. */
const MAX_ERROR_BODY = 4096;

/** The streaming server answered the upgrade with something other than 101. */
export class UpgradeRefusedError extends BerthError {
  constructor(
    readonly status: number,
    /** The server's words, from the body of its answer. */
    readonly reason: string,
    url: URL,
  ) {
    super(
      status === 404 ? "NotFound" : status === 403 ? "NotImplemented" : "Unavailable",
      `the streaming server at ${url.host} answered ${status}${reason !== "" ? ` (${reason})` : ""}`,
    );
    this.name = "UpgradeRefusedError";
  }
}

export interface UpgradedConnection {
  socket: Socket;
  /** Bytes that came with the 101 answer, after its headers. */
  head: Buffer;
  /** The sub-protocol the server chose. */
  protocol: string;
}

/** Parses a streaming URL; only http and https ones can be upgraded. */
export function streamingUrl(url: string): URL {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new BerthError(
      "InvalidArgument",
      `the runtime's streaming URL ${JSON.stringify(url)} is not an http(s) URL`,
    );
  }
  return parsed;
}

/** Upgrades `url` to SPDY/3.1, offering `protocols` in order of preference. */
export function upgradeToSpdy(
  url: string,
  protocols: readonly string[],
  options: { signal?: AbortSignal } = {},
): Promise<UpgradedConnection> {
  const target = streamingUrl(url);
  const send = target.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = send(target, {
      method: "POST",
      agent: false,
      headers: {
        Connection: "Upgrade",
        Upgrade: "SPDY/3.1",
        [STREAM_PROTOCOL_HEADER]: [...protocols],
        "Content-Length": "0",
      },
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    req.once("upgrade", (res: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const chosen = res.headers[STREAM_PROTOCOL_HEADER.toLowerCase()];
      const protocol = Array.isArray(chosen) ? (chosen[0] ?? "") : (chosen ?? "");
      if (!protocols.includes(protocol)) {
        socket.destroy();
        reject(
          new BerthError(
            "NotImplemented",
            `the streaming server at ${target.host} chose protocol ${JSON.stringify(protocol)}, not one of ${protocols.join(", ")}`,
          ),
        );
        return;
      }
      resolve({ socket, head, protocol });
    });
    req.once("response", (res: http.IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (body.length < MAX_ERROR_BODY) body += chunk;
      });
      res.once("end", () => {
        const reason = body.slice(0, MAX_ERROR_BODY).replace(/\s+/g, " ").trim();
        reject(new UpgradeRefusedError(res.statusCode ?? 0, reason, target));
      });
      res.once("error", (err) => reject(err));
    });
    req.once("error", (err: NodeJS.ErrnoException) => {
      if (options.signal?.aborted) {
        reject(options.signal.reason ?? err);
        return;
      }
      reject(
        new BerthError(
          "Unavailable",
          `cannot reach the streaming server at ${target.host} (${err.code ?? err.message})`,
          { cause: err },
        ),
      );
    });
    req.end();
  });
}
