// berthctl images tag: more names for an image that is here, as `ctr images tag`.

import {
  createOrUpdateImage,
  errorMessage,
  formatReference,
  images,
  isAlreadyExists,
  isNotFound,
  notFound,
  parseReference,
} from "@berth/client";
import { type Command, UsageError, parseOptions } from "../../command.js";

export const tagCommand: Command = {
  name: "tag",
  summary: "give an image more names",
  synopsis: "[--force] SOURCE TARGET...",
  help: ["--force               replace a TARGET that names another image"],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(argv, { force: { type: "boolean" } }, "images tag");
    const [source, ...targets] = positionals;
    if (source === undefined || targets.length === 0)
      throw new UsageError("images tag needs a source and a target: berthctl images tag SOURCE TARGET...");
    const conn = ctx.connect();
    const name = await images.resolveName(conn, source, { signal: ctx.signal });
    const image = await images.get(conn, name, { signal: ctx.signal }).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
      throw notFound(`${errorMessage(err)}: see 'berthctl images ls' for the names, or pull it first`);
    });
    if (image.target === undefined) throw new UsageError(`image ${name} has no target: pull it again`);
    for (const target of targets) {
      let targetName: string;
      try {
        targetName = formatReference(parseReference(target));
      } catch (err) {
        throw new UsageError(`${target} is not an image reference: ${(err as Error).message}`);
      }
      if (values.force === true) {
        await createOrUpdateImage(conn, targetName, image.target, image.labels);
      } else {
        try {
          await conn.images.create({ image: { ...image, name: targetName } }, { signal: ctx.signal });
        } catch (err) {
          if (isAlreadyExists(err))
            throw new UsageError(`image ${targetName} already exists: use --force to point it at ${name}`);
          throw err;
        }
      }
      ctx.stdout.write(`${targetName}\n`);
    }
  },
};
