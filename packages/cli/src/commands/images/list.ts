// berthctl images ls: the image store, in ctr's columns.

import { images } from "@berth/client";
import type { Command } from "../../command.js";
import { parseOptions } from "../../command.js";
import { formatBytes, formatTable } from "../../format.js";

export const listCommand: Command = {
  name: "ls",
  aliases: ["list"],
  summary: "list images",
  synopsis: "[-q] [FILTER...]",
  help: [
    "-q, --quiet           print only the image names",
    "FILTER                containerd filters, e.g. name~=busybox",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { quiet: { type: "boolean", short: "q" } },
      "images ls",
    );
    const conn = ctx.connect();
    const list = await images.list(conn, positionals, { signal: ctx.signal });
    if (values.quiet === true) {
      for (const image of list) ctx.stdout.write(`${image.name}\n`);
      return;
    }
    const rows = await Promise.all(
      list.map(async (image) => {
        const summary = await images.summarize(conn, image, { signal: ctx.signal });
        const labels = Object.entries(image.labels)
          .map(([k, v]) => `${k}=${v}`)
          .sort();
        return [
          image.name,
          image.target?.mediaType ?? "-",
          image.target?.digest ?? "-",
          summary.size !== undefined ? formatBytes(summary.size) : "-",
          summary.platforms.length > 0 ? summary.platforms.join(",") : "-",
          labels.length > 0 ? labels.join(",") : "-",
        ];
      }),
    );
    ctx.stdout.write(formatTable(["REF", "TYPE", "DIGEST", "SIZE", "PLATFORMS", "LABELS"], rows));
  },
};
