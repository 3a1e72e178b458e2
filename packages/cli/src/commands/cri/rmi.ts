// berthctl cri rmi: remove images. CRI removes an image with all its names, so every tag
// of it goes, whichever one was named; prints each.

import { BerthError } from "@berth/client";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, eachId, requireIds } from "./context.js";

export const rmiCommand = criCommand({
  name: "rmi",
  summary: "remove images (with all their tags)",
  synopsis: "[-a] [--prune] IMAGE...",
  help: [
    "-a, --all             every image",
    "--prune               every image no container uses",
    "IMAGE                 a reference (name:tag, name@digest) or an image ID",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { all: { type: "boolean", short: "a" }, prune: { type: "boolean" } },
      "cri rmi",
    );
    let refs: string[];
    if (values.all === true || values.prune === true) {
      if (positionals.length > 0) {
        throw new UsageError("cri rmi -a and --prune take no images: drop either the option or the images");
      }
      const images = (await ctx.cri.images.listImages({}, { signal: ctx.signal })).images;
      const used = new Set<string>();
      if (values.prune === true) {
        for (const c of (await ctx.cri.runtime.listContainers({}, { signal: ctx.signal })).containers) {
          const st = await ctx.cri.images.imageStatus(
            { image: { image: c.image?.image ?? c.imageRef, annotations: {} }, verbose: false },
            { signal: ctx.signal },
          );
          if (st.image !== undefined) used.add(st.image.id);
        }
      }
      refs = images.filter((i) => !used.has(i.id) && !(values.prune === true && i.pinned)).map((i) => i.id);
      if (refs.length === 0) return;
    } else {
      refs = requireIds(positionals, "rmi", "IMAGE");
    }
    await eachId(ctx, refs, async (ref) => {
      const { image } = await ctx.cri.images.imageStatus(
        { image: { image: ref, annotations: {} }, verbose: false },
        { signal: ctx.signal },
      );
      if (image === undefined) {
        throw new BerthError("NotFound", `no such image ${ref}: see 'berthctl cri images'`);
      }
      await ctx.cri.images.removeImage({ image: { image: ref, annotations: {} } }, { signal: ctx.signal });
      const names = image.repoTags.length > 0 ? image.repoTags : image.repoDigests;
      for (const name of names.length > 0 ? names : [image.id]) ctx.stdout.write(`Deleted: ${name}\n`);
    });
  },
});
