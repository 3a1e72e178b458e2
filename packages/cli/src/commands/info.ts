// berthctl info: what the daemon says about itself: version, server UUID, plugins and
// their state, and how much the namespaces hold. Works against containerd as well.

import { errorMessage } from "@berth/client";
import { type Command, parseOptions } from "../command.js";
import { formatTable } from "../format.js";
import { outputFormat } from "./cri/context.js";

export interface DaemonInfo {
  address: string;
  version: string;
  revision: string;
  /** Empty when the daemon does not answer Introspection.Server. */
  uuid: string;
  plugins: Array<{ type: string; id: string; status: "ok" | "error"; error?: string; platforms: string[] }>;
  namespaces: Array<{ name: string; images: number; containers: number; content: number }>;
}

export const infoCommand: Command = {
  name: "info",
  summary: "show the daemon's version, plugins and what its namespaces hold",
  synopsis: "[-o text|json]",
  help: ["-o, --output FORMAT   text (default) or json"],
  async run(ctx, argv) {
    const { values } = parseOptions(argv, { output: { type: "string", short: "o" } }, "info");
    const format = outputFormat(values.output, ["text", "json"] as const);
    const conn = ctx.connect();
    const signal = { signal: ctx.signal };
    const [version, server, plugins, namespaces] = await Promise.all([
      conn.version.version({}, signal),
      conn.introspection.server({}, signal).catch(() => ({ uuid: "" })),
      conn.introspection.plugins({ filters: [] }, signal),
      conn.namespaces.list({}, signal),
    ]);
    const info: DaemonInfo = {
      address: conn.address,
      version: version.version,
      revision: version.revision,
      uuid: server.uuid,
      plugins: plugins.plugins.map((p) => ({
        type: p.type,
        id: p.id,
        status: p.initErr !== undefined && p.initErr.code !== 0 ? "error" : "ok",
        ...(p.initErr !== undefined && p.initErr.code !== 0 ? { error: p.initErr.message } : {}),
        platforms: p.platforms.map((x) =>
          [x.os, x.architecture, x.variant].filter((s) => s !== "").join("/"),
        ),
      })),
      namespaces: await Promise.all(
        namespaces.namespaces.map(async (ns) => {
          const inNs = conn.withNamespace(ns.name);
          const [images, containers, content] = await Promise.all([
            inNs.images.list({ filters: [] }, signal).then((r) => r.images.length),
            inNs.containers.list({ filters: [] }, signal).then((r) => r.containers.length),
            countContent(inNs.content.list({ filters: [] }, signal)),
          ]);
          return { name: ns.name, images, containers, content };
        }),
      ),
    };
    if (format === "json") {
      ctx.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
      return;
    }
    const failed = info.plugins.filter((p) => p.status === "error");
    ctx.stdout.write(
      [
        `Address:    ${info.address}`,
        `Version:    ${info.version}`,
        `Revision:   ${info.revision || "-"}`,
        `UUID:       ${info.uuid || "-"}`,
        `Plugins:    ${info.plugins.length} (${failed.length} failed to load)`,
        "",
      ].join("\n"),
    );
    ctx.stdout.write(
      formatTable(
        ["TYPE", "ID", "PLATFORMS", "STATUS"],
        info.plugins.map((p) => [
          p.type,
          p.id,
          p.platforms.length > 0 ? p.platforms.join(",") : "-",
          p.status === "ok" ? "ok" : `error: ${p.error ?? ""}`,
        ]),
      ),
    );
    ctx.stdout.write("\n");
    ctx.stdout.write(
      formatTable(
        ["NAMESPACE", "IMAGES", "CONTAINERS", "BLOBS"],
        info.namespaces.map((n) => [n.name, String(n.images), String(n.containers), String(n.content)]),
      ),
    );
  },
};

async function countContent(stream: AsyncIterable<{ info: unknown[] }>): Promise<number> {
  let n = 0;
  try {
    for await (const res of stream) n += res.info.length;
  } catch (err) {
    throw new Error(`cannot list content: ${errorMessage(err)}`);
  }
  return n;
}
