import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { connect } from "@berth/client/connection";
import { silentLogger } from "@berth/client/log";
import { defaultBerthdConfig } from "../config/config.js";
import { startBerthd } from "./berthd.js";

test("a start that fails half-way closes what it opened: no sockets left, and the next start works", async () => {
  const dir = await mkdtemp("/var/tmp/berthd-start-");
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
  const port = (taken.address() as { port: number }).port;
  const address = join(dir, "berthd.sock");
  const config = {
    ...defaultBerthdConfig,
    root: join(dir, "root"),
    state: join(dir, "state"),
    grpc: { address },
    ttrpc: { address: `${address}.ttrpc` },
  };
  try {
    // The metrics listener is the last thing a start opens: everything before it is undone.
    await assert.rejects(
      startBerthd({ ...config, metrics: { address: `127.0.0.1:${port}` } }, silentLogger),
      /EADDRINUSE/,
    );
    assert.equal(existsSync(address), false, "no gRPC socket left");
    assert.equal(existsSync(`${address}.ttrpc`), false, "no ttrpc socket left");
    const berthd = await startBerthd(config, silentLogger);
    try {
      const conn = connect({ address, namespace: "default" });
      try {
        assert.match((await conn.version.version({})).version, /^1\.6\./);
      } finally {
        conn.close();
      }
    } finally {
      await berthd.stop();
    }
  } finally {
    taken.close();
    await rm(dir, { recursive: true, force: true });
  }
});
