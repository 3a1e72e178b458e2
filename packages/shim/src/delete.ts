import { readFile, rm } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { DeleteResponse } from "@berth/api/containerd/runtime/v2/task/shim";
import { socketPath } from "./address.js";
import { messageOf } from "./errors.js";
import type { ShimFlags } from "./flags.js";
import { unmountAll } from "./mount.js";
import { readPidFile, runcOfBundle } from "./runc.js";
import { initLibc } from "./sys.js";

// `delete`: the daemon found the shim dead. Remove what it left (the runc container and the
// rootfs mount) and report the task as killed, as upstream's cleanup does.

/** The dead shim's socket, unless another shim of the group answers on it. */
async function removeDeadSocket(bundle: string, warn: (message: string) => void): Promise<void> {
  let path: string;
  try {
    path = socketPath((await readFile(join(bundle, "address"), "utf8")).trim());
  } catch {
    return;
  }
  const answers = await new Promise<boolean>((resolve) => {
    const socket = net.createConnection({ path });
    socket.setTimeout(1_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
  if (!answers)
    await rm(path, { force: true }).catch((err) => warn(`failed to remove ${path}: ${messageOf(err)}`));
}

export async function deleteShim(flags: ShimFlags, warn: (message: string) => void): Promise<Uint8Array> {
  await initLibc();
  const bundle = flags.bundle || process.cwd();
  const runc = await runcOfBundle(bundle, flags.namespace);
  try {
    await runc.delete(flags.id, true);
  } catch (err) {
    warn(`failed to remove runc container: ${messageOf(err)}`);
  }
  try {
    unmountAll(join(bundle, "rootfs"));
  } catch (err) {
    warn(`failed to cleanup rootfs mount: ${messageOf(err)}`);
  }
  await removeDeadSocket(bundle, warn);
  let pid = 0;
  try {
    pid = await readPidFile(join(bundle, "init.pid"));
  } catch (err) {
    warn(`failed to read init pid file: ${messageOf(err)}`);
  }
  const SIGKILL = 9;
  return DeleteResponse.encode({ pid, exitStatus: 128 + SIGKILL, exitedAt: new Date() }).finish();
}
