// berthctl cri images: the runtime's images, one row per tag, in crictl's columns.

import type { Image } from "@berth/api/cri/runtime/v1/api";
import { UsageError, parseOptions } from "../../command.js";
import { criCommand, outputFormat } from "./context.js";
import { criTable, humanSize, truncateId } from "./format.js";
import { protoJson, writeJson } from "./json.js";

const NONE = "<none>";

/** An image's rows: [IMAGE, TAG, DIGEST, IMAGE ID, SIZE] for each of its tags. */
export function imageRows(image: Image, whole: boolean): string[][] {
  const [first] = image.repoDigests;
  const at = first?.indexOf("@") ?? -1;
  const repository = first === undefined ? NONE : at < 0 ? first : first.slice(0, at);
  const digest = first === undefined ? NONE : at < 0 ? NONE : first.slice(at + 1);
  const id = whole ? image.id : truncateId(image.id, "sha256:");
  const shownDigest = whole ? digest : truncateId(digest, "sha256:");
  const size = humanSize(image.size, 3);
  // Pulled by digest only, an image has no tags: it shows under its repository.
  const tags = image.repoTags.length > 0 ? image.repoTags : [`${repository}:${NONE}`];
  return tags.map((tag) => {
    const colon = tag.lastIndexOf(":");
    const slash = tag.lastIndexOf("/");
    const name = colon > slash ? tag.slice(0, colon) : tag;
    const version = colon > slash ? tag.slice(colon + 1) : NONE;
    return [name === NONE ? repository : name, version, shownDigest, id, size];
  });
}

export const imagesCommand = criCommand({
  name: "images",
  aliases: ["image", "img"],
  summary: "list images",
  synopsis: "[-q] [--digests] [--no-trunc] [-o table|json] [REPOSITORY[:TAG]]",
  help: [
    "-q, --quiet           print only the image IDs",
    "--digests             show each image's digest",
    "--no-trunc            print whole IDs and digests",
    '-o, --output FORMAT   "table" (default) or "json"',
    "REPOSITORY[:TAG]      only this image",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        quiet: { type: "boolean", short: "q" },
        digests: { type: "boolean" },
        "no-trunc": { type: "boolean" },
        output: { type: "string", short: "o" },
      },
      "cri images",
    );
    if (positionals.length > 1) {
      throw new UsageError(
        `cri images takes at most one image, got ${positionals.length}: list them one by one`,
      );
    }
    const format = outputFormat(values.output, ["table", "json"]);
    const { images } = await ctx.cri.images.listImages(
      { filter: { image: { image: positionals[0] ?? "", annotations: {} } } },
      { signal: ctx.signal },
    );
    if (values.quiet === true) {
      for (const image of images) ctx.stdout.write(`${image.id}\n`);
      return;
    }
    if (format === "json") {
      writeJson(ctx.stdout, protoJson({ images }));
      return;
    }
    const digests = values.digests === true;
    const rows = images
      .flatMap((image) => imageRows(image, values["no-trunc"] === true))
      .map(([name, tag, digest, id, size]) =>
        digests ? [name!, tag!, digest!, id!, size!] : [name!, tag!, id!, size!],
      );
    const header = digests
      ? ["IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE"]
      : ["IMAGE", "TAG", "IMAGE ID", "SIZE"];
    ctx.stdout.write(criTable(header, rows));
  },
});
