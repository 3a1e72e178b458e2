// berthctl cri imagefsinfo: where the runtime keeps images and how much they use.

import { parseOptions } from "../../command.js";
import { criCommand, outputFormat } from "./context.js";
import { humanSize } from "./format.js";
import { protoJson, statusDocument, writeJson } from "./json.js";

export const imageFsInfoCommand = criCommand({
  name: "imagefsinfo",
  summary: "show the image filesystem's usage",
  synopsis: "[-o json|table]",
  help: ['-o, --output FORMAT   "json" (default) or "table"'],
  async run(ctx, argv) {
    const { values } = parseOptions(argv, { output: { type: "string", short: "o" } }, "cri imagefsinfo");
    const format = outputFormat(values.output, ["json", "table"]);
    const r = await ctx.cri.images.imageFsInfo({}, { signal: ctx.signal });
    if (format === "json") {
      writeJson(ctx.stdout, statusDocument(protoJson(r), {}));
      return;
    }
    ctx.stdout.write("Image Filesystem \n");
    r.imageFilesystems.forEach((fs, i) => {
      ctx.stdout.write(
        `TimeStamp[${i}]: ${fs.timestamp}\nDisk[${i}]: ${humanSize(fs.usedBytes?.value ?? 0n)}\nInodes[${i}]: ${fs.inodesUsed?.value ?? 0n}\nMountpoint[${i}]: ${fs.fsId?.mountpoint ?? ""}\n`,
      );
    });
  },
});
