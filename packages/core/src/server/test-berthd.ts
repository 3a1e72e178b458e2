// A berthd for tests in this package: on sockets and directories under `dir`, silent,
// with a client that holds a lease (GC takes what nothing references) in `namespace`.
import { join } from "node:path";
import { type Connection, connect } from "@berth/client/connection";
import { BerthError, errorKind, errorMessage } from "@berth/client/errdefs";
import { silentLogger } from "@berth/client/log";
import { defaultBerthdConfig } from "../config/config.js";
import { type Berthd, startBerthd } from "./berthd.js";

export interface TestBerthd {
  berthd: Berthd;
  /** A client in `namespace`, under the lease `lease`. */
  conn: Connection;
  stop(): Promise<void>;
}

export async function startTestBerthd(dir: string, namespace: string, lease: string): Promise<TestBerthd> {
  const address = join(dir, "berthd.sock");
  const berthd = await startBerthd(
    {
      ...defaultBerthdConfig,
      root: join(dir, "root"),
      state: join(dir, "state"),
      grpc: { address },
      ttrpc: { address: `${address}.ttrpc` },
    },
    silentLogger,
  );
  const setup = connect({ address, namespace });
  try {
    const { leases } = await setup.leases.list({ filters: [] });
    if (!leases.some((l) => l.id === lease)) await setup.leases.create({ id: lease, labels: {} });
  } finally {
    setup.close();
  }
  const conn = connect({ address, namespace, lease });
  return {
    berthd,
    conn,
    async stop() {
      conn.close();
      await berthd.stop();
    },
  };
}

/** A gRPC failure as the error an in-process store throws: same kind, the server's message. */
export async function translated<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof BerthError) throw err;
    const details = (err as { details?: unknown }).details;
    throw new BerthError(errorKind(err), typeof details === "string" ? details : errorMessage(err));
  }
}
