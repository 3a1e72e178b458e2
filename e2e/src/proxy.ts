// A counting HTTP proxy in front of the test registry: tests use it to show what a
// pull fetched (a second pull of the same image must fetch no blob).
import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer,
  request,
} from "node:http";
import type { AddressInfo } from "node:net";

export interface CountingProxy {
  host: string;
  blobGets: number;
  manifestGets: number;
  reset(): void;
  stop(): Promise<void>;
}

/** Passes a request on to `targetHost` with `headers` (its Host set to the target), and the answer back. */
export function forward(
  targetHost: string,
  req: IncomingMessage,
  res: ServerResponse,
  headers: IncomingHttpHeaders,
): void {
  const [hostname, port] = targetHost.split(":") as [string, string];
  const upstream = request(
    {
      hostname,
      port: Number(port),
      method: req.method,
      path: req.url,
      headers: { ...headers, host: targetHost },
    },
    (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    res.writeHead(502);
    res.end(String(err));
  });
  req.pipe(upstream);
}

export async function startCountingProxy(targetHost: string): Promise<CountingProxy> {
  const state = { blobGets: 0, manifestGets: 0 };
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && req.url?.includes("/blobs/")) state.blobGets++;
    if (req.method === "GET" && req.url?.includes("/manifests/")) state.manifestGets++;
    forward(targetHost, req, res, req.headers);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${addr.port}`,
    get blobGets() {
      return state.blobGets;
    },
    get manifestGets() {
      return state.manifestGets;
    },
    reset() {
      state.blobGets = 0;
      state.manifestGets = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
