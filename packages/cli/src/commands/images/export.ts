// berthctl images export: write images into one OCI archive (with Docker's manifest.json)
// that ctr, containerd and docker load import.

import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { Writable } from "node:stream";
import { exportArchive } from "@berth/client";
import { type Command, UsageError, parseOptions } from "../../command.js";
import { PullProgressView } from "../../progress.js";

export const exportCommand: Command = {
  name: "export",
  summary: "export images into an OCI tar archive",
  synopsis: "[--platform P] [--all-platforms] [--skip-manifest-json] FILE|- REF...",
  help: [
    "--platform P          export the content of platform P (repeatable; default: this machine's)",
    "--all-platforms       export every platform (all of their content must be here)",
    "--skip-manifest-json  leave out Docker's manifest.json",
    "FILE                  where to write the archive; - writes it to standard output",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        platform: { type: "string", multiple: true },
        "all-platforms": { type: "boolean" },
        "skip-manifest-json": { type: "boolean" },
      },
      "images export",
    );
    const [file, ...refs] = positionals;
    if (file === undefined || refs.length === 0)
      throw new UsageError(
        "images export needs a file and at least one image: berthctl images export FILE REF...",
      );
    const toStdout = file === "-";
    // The archive owns standard output when it goes there; progress moves to stderr.
    const view = new PullProgressView(toStdout ? ctx.stderr : ctx.stdout, { verb: "exported" });
    const started = Date.now();
    let out: Writable | undefined;
    const open = (): Writable => {
      out = toStdout ? (ctx.stdout as unknown as Writable) : createWriteStream(file, { mode: 0o644 });
      return out;
    };
    try {
      const exported = await exportArchive(ctx.connect(), refs, open, {
        platforms: values.platform ?? [],
        allPlatforms: values["all-platforms"] === true,
        skipManifestJson: values["skip-manifest-json"] === true,
        onProgress: view.update.bind(view),
        signal: ctx.signal,
      });
      view.finish({
        name: exported.map((e) => e.name).join(", "),
        digest: toStdout ? "" : `→ ${file}`,
        elapsedMs: Date.now() - started,
      });
    } catch (err) {
      view.abandon();
      // A half-written archive is worse than none.
      if (!toStdout && out !== undefined) {
        out.destroy();
        await rm(file, { force: true });
      }
      throw err;
    }
  },
};
