// berthctl images import: load an image archive (ctr/berthctl export, docker save) into
// the daemon, with ctr's naming flags, and unpack it.

import { DEFAULT_SNAPSHOTTER, importArchive, importArchiveStream } from "@berth/client";
import { type Command, UsageError, parseOptions } from "../../command.js";
import { PullProgressView } from "../../progress.js";

export const importCommand: Command = {
  name: "import",
  summary: "import images from an OCI or Docker tar archive",
  synopsis:
    "[--base-name NAME] [--digests] [--index-name NAME] [--all-platforms] [--platform P] [--no-unpack] FILE|-",
  help: [
    "--base-name NAME      import only images named under NAME; bare tags become NAME:TAG",
    "                        (without it they become import-<date>:TAG)",
    "--digests             also name each image <base>@<digest>",
    "--skip-digest-for-named  no digest name for images the archive names",
    "--index-name NAME     keep the archive's index as the image NAME",
    "--all-platforms       import the content of every platform (default: this machine's)",
    "--platform P          import the content of platform P (repeatable)",
    "--no-unpack           import the content only",
    `--snapshotter S       snapshotter to unpack into (default ${DEFAULT_SNAPSHOTTER})`,
    "FILE                  the archive (tar or tar.gz); - reads standard input",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        "base-name": { type: "string" },
        digests: { type: "boolean" },
        "skip-digest-for-named": { type: "boolean" },
        "index-name": { type: "string" },
        "all-platforms": { type: "boolean" },
        platform: { type: "string", multiple: true },
        "no-unpack": { type: "boolean" },
        snapshotter: { type: "string" },
      },
      "images import",
    );
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0)
      throw new UsageError("images import takes one archive: berthctl images import FILE (or - for stdin)");
    const view = new PullProgressView(ctx.stdout, { verb: "imported" });
    const started = Date.now();
    const options = {
      ...(values["base-name"] !== undefined ? { baseName: values["base-name"] } : {}),
      digests: values.digests === true,
      skipDigestForNamed: values["skip-digest-for-named"] === true,
      ...(values["index-name"] !== undefined ? { indexName: values["index-name"] } : {}),
      allPlatforms: values["all-platforms"] === true,
      platforms: values.platform ?? [],
      unpack: values["no-unpack"] !== true,
      snapshotter: values.snapshotter ?? DEFAULT_SNAPSHOTTER,
      onProgress: view.update.bind(view),
      signal: ctx.signal,
    };
    try {
      let made: Awaited<ReturnType<typeof importArchive>>;
      if (file === "-") {
        if (ctx.stdin === undefined || ctx.stdin.isTTY === true)
          throw new UsageError(
            "images import - reads the archive from standard input: pipe it in (docker save IMAGE | berthctl images import -)",
          );
        made = await importArchiveStream(ctx.connect(), ctx.stdin, options);
      } else {
        made = await importArchive(ctx.connect(), file, options);
      }
      view.finish({ name: `${made.length} image(s)`, digest: "", elapsedMs: Date.now() - started });
      for (const image of made) ctx.stdout.write(`${image.name} ${image.target?.digest ?? ""}\n`);
    } catch (err) {
      view.abandon();
      throw err;
    }
  },
};
