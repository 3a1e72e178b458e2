// berthctl cri rm: remove containers (running ones only with -f) and, as crictl does,
// their log files with the rotated ones, unless --keep-logs; prints each ID.

import { readdir, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ContainerState } from "@berth/api/cri/runtime/v1/api";
import { BerthError } from "@berth/client";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, eachId, notFoundAs, requireIds } from "./context.js";
import { stopContainer } from "./stop.js";

/** The log file and its rotations (`<path>.<anything>`). */
async function removeLogs(path: string): Promise<string[]> {
  const name = basename(path);
  const dir = dirname(path);
  const rotated = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.startsWith(`${name}.`))
    .map((f) => join(dir, f));
  const failed: string[] = [];
  for (const file of [...rotated, path]) {
    await rm(file, { force: true }).catch(() => failed.push(file));
  }
  return failed;
}

export const rmCommand = criCommand({
  name: "rm",
  summary: "remove containers",
  synopsis: "[-f] [-a] [-k] CONTAINER-ID...",
  help: [
    "-f, --force           stop running containers first (SIGKILL)",
    "-a, --all             every container",
    "-k, --keep-logs       keep the containers' log files",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        force: { type: "boolean", short: "f" },
        all: { type: "boolean", short: "a" },
        "keep-logs": { type: "boolean", short: "k" },
      },
      "cri rm",
    );
    let ids: string[];
    if (values.all === true) {
      if (positionals.length > 0) throw new UsageError("cri rm -a takes no IDs: drop either -a or the IDs");
      ids = (await ctx.cri.runtime.listContainers({}, { signal: ctx.signal })).containers.map((c) => c.id);
      if (ids.length === 0) return;
    } else {
      ids = requireIds(positionals, "rm", "CONTAINER-ID");
    }
    await eachId(ctx, ids, async (id) => {
      const { status } = await ctx.cri.runtime
        .containerStatus({ containerId: id, verbose: false }, { signal: ctx.signal })
        .catch((err) => notFoundAs(err, `container ${id} not found: see 'berthctl cri ps -a'`));
      if (status?.state === ContainerState.CONTAINER_RUNNING) {
        if (values.force !== true) {
          throw new BerthError(
            "FailedPrecondition",
            `container ${id} is running: stop it first ('berthctl cri stop ${id}'), or pass -f`,
          );
        }
        await stopContainer(ctx, id, 0);
      }
      await ctx.cri.runtime
        .removeContainer({ containerId: id }, { signal: ctx.signal })
        .catch((err) => notFoundAs(err, `container ${id} not found: see 'berthctl cri ps -a'`));
      const logPath = status?.logPath ?? "";
      if (values["keep-logs"] !== true && logPath !== "") {
        for (const file of await removeLogs(logPath)) {
          ctx.stderr.write(
            `berthctl: cannot remove the log file ${file} of container ${id}: remove it by hand\n`,
          );
        }
      }
      ctx.stdout.write(`${id}\n`);
    });
  },
});
