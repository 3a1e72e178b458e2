// berthctl images rm: delete image records; with --sync, wait until garbage collection
// has removed the content and snapshots nothing else uses.

import { images, isNotFound } from "@berth/client";
import { type Command, ReportedError, UsageError, parseOptions } from "../../command.js";

export const removeCommand: Command = {
  name: "rm",
  aliases: ["remove", "delete", "del"],
  summary: "remove images",
  synopsis: "[--sync] REF...",
  help: ["--sync                wait for garbage collection to free the images' content and snapshots"],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(argv, { sync: { type: "boolean" } }, "images rm");
    if (positionals.length === 0)
      throw new UsageError("images rm needs at least one image: berthctl images rm REF...");
    const conn = ctx.connect();
    let failed = false;
    for (const ref of positionals) {
      try {
        const name = await images.resolveName(conn, ref, { signal: ctx.signal });
        await images.remove(conn, name, { sync: values.sync === true, signal: ctx.signal });
        ctx.stdout.write(`${name}\n`);
      } catch (err) {
        // Like ctr: an image that is not there is reported, not a failure.
        if (isNotFound(err)) {
          ctx.stderr.write(
            `berthctl: image ${ref} not found: nothing to remove (see 'berthctl images ls')\n`,
          );
          continue;
        }
        if (positionals.length === 1) throw err;
        ctx.stderr.write(
          `berthctl: cannot remove ${ref}: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        failed = true;
      }
    }
    if (failed) throw new ReportedError(1);
  },
};
