// berthctl images push: send an image to its registry, with progress per blob.

import { type HostsConfig, Resolver, loadHostsConfig, parseReference, push } from "@berth/client";
import { type Command, UsageError, parseOptions } from "../../command.js";
import { PullProgressView } from "../../progress.js";

export const pushCommand: Command = {
  name: "push",
  summary: "push an image to a registry",
  synopsis:
    "[--plain-http] [--hosts-dir DIR] [--hosts-config FILE] [--user USER[:PASSWORD]] [--platform P] REMOTE [LOCAL]",
  help: [
    "--plain-http          reach the registry over http:// instead of https://",
    "--hosts-dir DIR       containerd's hosts directory (<DIR>/<host>/hosts.toml): the first",
    "                        host with the push capability, with its CA, client certificate and headers",
    "--hosts-config FILE   YAML with how registries are reached (see 'berthctl images pull --help')",
    "-u, --user U[:P]      registry user and password (the password may also come from",
    "                        BERTH_REGISTRY_PASSWORD)",
    "--platform P          push only this platform's manifest under the tag",
    "                        (default: the whole image, every platform)",
    "--max-concurrent-uploaded-layers N  blobs uploaded at once (default 3)",
    "REMOTE                where to push: 127.0.0.1:5000/team/app:1",
    "LOCAL                 the local image to push (default: REMOTE)",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      {
        "plain-http": { type: "boolean" },
        "hosts-config": { type: "string" },
        "hosts-dir": { type: "string" },
        user: { type: "string", short: "u" },
        platform: { type: "string" },
        "max-concurrent-uploaded-layers": { type: "string" },
      },
      "images push",
    );
    const [remote, local, ...extra] = positionals;
    if (remote === undefined || extra.length > 0)
      throw new UsageError(
        "images push takes a remote reference and optionally a local image: berthctl images push REMOTE [LOCAL]",
      );
    let hosts: HostsConfig = {};
    if (values["hosts-config"] !== undefined) hosts = await loadHostsConfig(values["hosts-config"]);
    if (values.user !== undefined) {
      const colon = values.user.indexOf(":");
      const username = colon < 0 ? values.user : values.user.slice(0, colon);
      const password = colon < 0 ? ctx.env.BERTH_REGISTRY_PASSWORD : values.user.slice(colon + 1);
      if (password === undefined)
        throw new UsageError("--user needs a password: --user USER:PASSWORD, or set BERTH_REGISTRY_PASSWORD");
      const domain = parseReference(remote).domain;
      hosts = { ...hosts, auth: { ...hosts.auth, [domain]: { username, password } } };
    }
    const concurrency = values["max-concurrent-uploaded-layers"];
    if (concurrency !== undefined && !/^[1-9]\d*$/.test(concurrency))
      throw new UsageError("--max-concurrent-uploaded-layers takes a positive number");

    const view = new PullProgressView(ctx.stdout, { verb: "pushed" });
    const started = Date.now();
    try {
      const hostsDir = values["hosts-dir"] ?? ctx.global.hostsDir;
      const resolver = new Resolver({
        hosts,
        ...(hostsDir !== undefined ? { hostsDir } : {}),
        plainHttp: values["plain-http"] === true,
        credentialsHint: (host) =>
          `with --user USER:PASSWORD (or under auth."${host}" in a --hosts-config file)`,
      });
      const result = await push(ctx.connect(), remote, {
        ...(local !== undefined ? { local } : {}),
        resolver,
        ...(values.platform !== undefined ? { platform: values.platform } : {}),
        ...(concurrency !== undefined ? { concurrency: Number(concurrency) } : {}),
        onProgress: (event) => view.update(event),
        signal: ctx.signal,
      });
      view.finish({ name: result.name, digest: result.descriptor.digest, elapsedMs: Date.now() - started });
    } catch (err) {
      view.abandon();
      throw err;
    }
  },
};
