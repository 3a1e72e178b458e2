// berthctl tasks ps: the processes in a task's container, in ctr's columns.

import type { Any } from "@berth/api/google/protobuf/any";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { type Command, parseOptions } from "../../command.js";
import { formatTable } from "../../format.js";
import { loadTask, singleId } from "./lookup.js";

const PROCESS_DETAILS = "containerd.runc.v1.ProcessDetails";

/** What ctr prints for a process's info: runc shims name the exec a process belongs to. */
export function formatProcessInfo(info: Any | undefined): string {
  if (info === undefined) return "-";
  const type = info.typeUrl.replace(/^.*\//, "");
  if (type !== PROCESS_DETAILS) return type;
  let execId = "";
  const reader = new BinaryReader(info.value);
  while (reader.pos < reader.len) {
    const [no, wire] = reader.tag();
    if (no === 1 && wire === WireType.LengthDelimited) execId = reader.string();
    else reader.skip(wire, no);
  }
  return `&ProcessDetails{ExecID:${execId},}`;
}

export const psCommand: Command = {
  name: "ps",
  summary: "list the processes of a task",
  synopsis: "ID",
  help: [],
  async run(ctx, argv) {
    const id = singleId(parseOptions(argv, {}, "tasks ps").positionals, "tasks ps");
    const conn = ctx.connect();
    await loadTask(conn, id, ctx.signal);
    const { processes } = await conn.tasks.listPids({ containerId: id }, { signal: ctx.signal });
    const rows = processes.map((p) => [String(p.pid), formatProcessInfo(p.info)]);
    ctx.stdout.write(formatTable(["PID", "INFO"], rows, { padding: 4 }));
  },
};
