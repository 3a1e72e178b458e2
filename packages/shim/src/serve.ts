import { existsSync, readFileSync, rmSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { TaskDefinition } from "@berth/api/containerd/runtime/v2/task/shim";
import { TtrpcServer } from "@berth/ttrpc";
import { socketPath } from "./address.js";
import { ADOPTION_RECORD } from "./container.js";
import { messageOf } from "./errors.js";
import { EventPublisher } from "./events.js";
import type { ShimFlags } from "./flags.js";
import { log, openLog } from "./log.js";
import { Reaper } from "./reaper.js";
import { TaskService } from "./service.js";
import { initLibc, setChildSubreaper, setCloseOnExec } from "./sys.js";

// The long-running shim: serves the Task API on the socket `start` handed over (fd 3),
// reaps its containers as their subreaper, and forwards events to the daemon.

const INHERITED_SOCKET_FD = 3;

export async function serve(flags: ShimFlags): Promise<void> {
  await initLibc();
  setChildSubreaper();
  openLog("log", flags.debug);

  let ownSocket: string | undefined;
  let ownAddress: string | undefined;
  try {
    ownAddress = readFileSync("address", "utf8").trim();
    ownSocket = socketPath(ownAddress);
  } catch {
    ownSocket = flags.socket || undefined;
  }

  const publisher = new EventPublisher({
    address: process.env.TTRPC_ADDRESS ?? "",
    namespace: flags.namespace,
    onError: (err) => log.warn(`forward event: ${err.message}`),
  });
  const reaper = new Reaper();
  reaper.start();
  const server = new TtrpcServer({ onError: (err) => log.debug(`ttrpc: ${err.message}`) });

  let stopping = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.debug(`shutting down: ${reason}`);
    service.stop();
    const closed = server.close();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2_000))]);
    server.shutdown();
    await publisher.flush(5_000);
    publisher.close();
    if (ownSocket !== undefined) rmSync(ownSocket, { force: true });
    process.exit(0);
  };

  const service = new TaskService({
    namespace: flags.namespace,
    publisher,
    reaper,
    onShutdown: () => void shutdown("Shutdown with no container left"),
  });
  server.register(TaskDefinition, service.implementation);
  if (ownAddress !== undefined) {
    const adopted = await service.adopt(await orphanedBundles(ownAddress), (bundle, err) =>
      log.warn(`cannot adopt the container of ${bundle}: ${messageOf(err)}`),
    );
    if (adopted.length > 0) log.info(`adopted ${adopted.length} containers: ${adopted.join(" ")}`);
  }

  if (flags.socket !== "") {
    await server.listen(flags.socket);
  } else {
    setCloseOnExec(INHERITED_SOCKET_FD);
    await server.listen({ fd: INHERITED_SOCKET_FD });
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("uncaughtException", (err) => log.error(`uncaught: ${err.stack ?? messageOf(err)}`));
  process.on("unhandledRejection", (err) => log.error(`unhandled rejection: ${messageOf(err)}`));
  log.debug(`serving ${flags.namespace}/${flags.id}`);
}

/**
 * Bundles beside ours (the namespace's directory) whose task this group's socket served
 * and that hold an adoption record: the containers of a shim of this group that died. A
 * shim starting for a new group finds none.
 */
async function orphanedBundles(ownAddress: string): Promise<string[]> {
  const parent = dirname(process.cwd());
  const found: string[] = [];
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const bundle = join(parent, name);
    if (!existsSync(join(bundle, ADOPTION_RECORD))) continue;
    const address = await readFile(join(bundle, "address"), "utf8").catch(() => "");
    if (address.trim() === ownAddress) found.push(bundle);
  }
  return found;
}
