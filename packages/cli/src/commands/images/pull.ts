// berthctl images pull: fetch an image into the daemon and unpack it, with progress.

import { DEFAULT_SNAPSHOTTER, type HostsConfig, loadHostsConfig, pull } from "@berth/client";
import { type Command, UsageError, parseOptions } from "../../command.js";
import { PullProgressView } from "../../progress.js";

export const pullCommand: Command = {
  name: "pull",
  summary: "fetch an image from its registry and unpack it into snapshots",
  synopsis:
    "[--plain-http] [--hosts-config FILE] [--hosts-dir DIR] [--platform P] [--snapshotter S] [--no-unpack] REF",
  help: [
    "--plain-http          reach the registry over http:// instead of https://",
    "--hosts-dir DIR       registry hosts in containerd's format, as ctr's --hosts-dir:",
    "                        DIR/<host>/hosts.toml (or DIR/<host>_<port>_/, DIR/_default/) with",
    '                        server, [host."<url>"] mirrors, capabilities, ca, client, skip_verify, header',
    "--hosts-config FILE   YAML with how registries are reached:",
    "                        mirrors: {docker.io: [http://127.0.0.1:5000]}  (tried in order, no fall-back)",
    "                        plainHttp: [127.0.0.1:5000]",
    "                        auth: {127.0.0.1:5000: {username: me, password: secret}}",
    "--platform P          the platform to pull out of a multi-platform image (default: this machine's)",
    `--snapshotter S       snapshotter to unpack into (default ${DEFAULT_SNAPSHOTTER})`,
    "--no-unpack           fetch the content only",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        "plain-http": { type: "boolean" },
        "hosts-config": { type: "string" },
        "hosts-dir": { type: "string" },
        platform: { type: "string" },
        snapshotter: { type: "string" },
        "no-unpack": { type: "boolean" },
      },
      "images pull",
    );
    const [ref, ...extra] = positionals;
    if (ref === undefined)
      throw new UsageError("images pull needs an image reference: berthctl images pull REF");
    if (extra.length > 0)
      throw new UsageError(
        `images pull takes one reference, got ${positionals.length}: pull them one by one`,
      );
    let hosts: HostsConfig | undefined;
    if (values["hosts-config"] !== undefined) hosts = await loadHostsConfig(values["hosts-config"]);

    const hostsDir = values["hosts-dir"] ?? ctx.global.hostsDir;

    const view = new PullProgressView(ctx.stdout);
    const started = Date.now();
    try {
      const image = await pull(ctx.connect(), ref, {
        ...(hosts !== undefined ? { hosts } : {}),
        ...(hostsDir !== undefined ? { hostsDir } : {}),
        plainHttp: values["plain-http"] === true,
        ...(values.platform !== undefined ? { platform: values.platform } : {}),
        snapshotter: values.snapshotter ?? DEFAULT_SNAPSHOTTER,
        unpack: values["no-unpack"] !== true,
        onProgress: (event) => view.update(event),
        signal: ctx.signal,
      });
      view.finish({ name: image.name, digest: image.target?.digest ?? "", elapsedMs: Date.now() - started });
    } catch (err) {
      view.abandon();
      throw err;
    }
  },
};
