// berthctl cri port-forward: carry connections made to local ports into a pod's ports, as
// crictl and kubectl do: one PortForward call, one SPDY session on the runtime's streaming
// server, a pair of streams for each connection accepted on 127.0.0.1. A connection the
// pod refuses is reported and dropped; the others go on until Ctrl-C.

import net from "node:net";
import { BerthError, errorKind } from "@berth/client";
import { PortForward } from "@berth/client/streaming/port-forward-client";
import { UsageError, parseOptions } from "../../command.js";
import { runtimeDetails } from "../../cri-client.js";
import { type CriContext, criCommand, notFoundAs } from "./context.js";
import { streamingFailure } from "./remote-command.js";

const LISTEN_HOST = "127.0.0.1";
const SPEC_FORMAT = "use [LOCAL:]REMOTE, as 8080, 9090:80, or 0:80 for a free local port";

export interface PortSpec {
  /** 0: any free port. */
  local: number;
  remote: number;
}

function portNumber(text: string, min: number): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= 65535 ? n : undefined;
}

/** kubectl's forms: "REMOTE" (the same port here), "LOCAL:REMOTE", ":REMOTE" or "0:REMOTE" (a free port). */
export function parsePortSpec(text: string): PortSpec {
  const colon = text.indexOf(":");
  const localText = colon < 0 ? undefined : text.slice(0, colon);
  const remote = portNumber(colon < 0 ? text : text.slice(colon + 1), 1);
  const local = localText === undefined ? remote : localText === "" ? 0 : portNumber(localText, 0);
  if (remote === undefined || local === undefined) {
    throw new UsageError(`invalid port ${JSON.stringify(text)}: ${SPEC_FORMAT}`);
  }
  return { local, remote };
}

/** Each spec parsed; a local port named twice is a mistake. */
export function parsePortSpecs(texts: readonly string[]): PortSpec[] {
  const specs = texts.map(parsePortSpec);
  const seen = new Set<number>();
  for (const { local } of specs) {
    if (local !== 0 && seen.has(local)) {
      throw new UsageError(
        `local port ${local} is given twice: give each local port once, or 0 for a free one`,
      );
    }
    seen.add(local);
  }
  return specs;
}

function listen(spec: PortSpec, onConnection: (conn: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        new BerthError(
          "FailedPrecondition",
          `cannot listen on ${LISTEN_HOST}:${spec.local} (${err.code ?? err.message}): pick another local port, or 0 for a free one`,
        ),
      );
    });
    server.listen({ host: LISTEN_HOST, port: spec.local }, () => resolve(server));
  });
}

export const portForwardCommand = criCommand({
  name: "port-forward",
  summary: "forward local ports to a pod's ports",
  synopsis: "POD-ID [LOCAL:]REMOTE...",
  help: [
    "[LOCAL:]REMOTE        listen on 127.0.0.1:LOCAL and carry each connection to REMOTE in",
    "                      the pod's network namespace; REMOTE alone listens on the same port,",
    "                      0:REMOTE (or :REMOTE) on a free one, printed at the start",
    "",
    "Runs until Ctrl-C. A connection the pod refuses is reported and closed; others go on.",
  ],
  async run(ctx, argv) {
    const { positionals } = parseOptions(argv, {}, "cri port-forward");
    const [pod, ...texts] = positionals;
    if (pod === undefined || pod === "" || texts.length === 0) {
      throw new UsageError(
        "cri port-forward needs a pod ID and at least one port: berthctl cri port-forward POD-ID [LOCAL:]REMOTE...",
      );
    }
    const specs = parsePortSpecs(texts);
    const { url } = await ctx.cri.runtime
      .portForward({ podSandboxId: pod, port: specs.map((s) => s.remote) }, { signal: ctx.signal })
      .catch((err) => {
        if (errorKind(err) === "FailedPrecondition") {
          throw new BerthError("FailedPrecondition", `${runtimeDetails(err)}: see 'berthctl cri pods'`);
        }
        return notFoundAs(err, `pod ${pod} not found: see 'berthctl cri pods'`);
      });
    const forward = await PortForward.open(url, { signal: ctx.signal }).catch((err) => {
      throw ctx.signal.aborted ? err : streamingFailure(err);
    });
    await serve(ctx, forward, specs);
  },
});

/** Listens on every local port and carries connections until a signal, or the session is lost. */
async function serve(ctx: CriContext, forward: PortForward, specs: readonly PortSpec[]): Promise<void> {
  const servers: net.Server[] = [];
  let lost = false;
  try {
    for (const spec of specs) {
      const server = await listen(spec, (conn) => {
        ctx.stdout.write(`Handling connection for ${spec.remote}\n`);
        forward.forward(conn, spec.remote).catch((err: Error) => {
          if (lost || ctx.signal.aborted) return;
          ctx.stderr.write(
            `berthctl: forwarding ${LISTEN_HOST}:${port(server)} -> ${spec.remote}: ${err.message}: check that the pod listens on port ${spec.remote}\n`,
          );
        });
      });
      servers.push(server);
      ctx.stdout.write(`Forwarding from ${LISTEN_HOST}:${port(server)} -> ${spec.remote}\n`);
    }
    const stopped = new Promise<"stopped">((resolve) => {
      if (ctx.signal.aborted) resolve("stopped");
      ctx.signal.addEventListener("abort", () => resolve("stopped"), { once: true });
    });
    const how = await Promise.race([stopped, forward.closed.then(() => "lost" as const)]);
    if (how === "lost") {
      lost = true;
      throw new BerthError(
        "Unavailable",
        "lost the connection to the runtime's streaming server: run port-forward again",
      );
    }
  } finally {
    for (const server of servers) server.close();
    forward.close();
  }
}

function port(server: net.Server): number {
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}
