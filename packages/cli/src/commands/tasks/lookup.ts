// Finding the task or container a tasks command names, with errors that say where to look.

import { BerthError, type Connection, isNotFound } from "@berth/client";
import { type Container, type Process, getContainer, getTask } from "@berth/client/tasks/index";
import { UsageError } from "../../command.js";

/** The task of container `id`, or a NotFound error pointing at `tasks ls`. */
export async function loadTask(conn: Connection, id: string, signal?: AbortSignal): Promise<Process> {
  try {
    return await getTask(conn, id, signal !== undefined ? { signal } : {});
  } catch (err) {
    if (isNotFound(err)) {
      throw new BerthError("NotFound", `task ${id} not found: see 'berthctl tasks ls' for the running ones`);
    }
    throw err;
  }
}

/** The container `id`, or a NotFound error pointing at `containers ls`. */
export async function loadContainer(conn: Connection, id: string, signal?: AbortSignal): Promise<Container> {
  try {
    return await getContainer(conn, id, signal !== undefined ? { signal } : {});
  } catch (err) {
    if (isNotFound(err)) {
      throw new BerthError("NotFound", `container ${id} not found: see 'berthctl containers ls'`);
    }
    throw err;
  }
}

/** The one ID a command takes. */
export function singleId(positionals: readonly string[], command: string, what = "ID"): string {
  const [id, ...extra] = positionals;
  if (id === undefined || id === "") {
    throw new UsageError(`${command} needs a container ID: berthctl ${command} ${what}`);
  }
  if (extra.length > 0) {
    throw new UsageError(
      `${command} takes one container ID, got ${positionals.length}: run it once for each`,
    );
  }
  return id;
}
