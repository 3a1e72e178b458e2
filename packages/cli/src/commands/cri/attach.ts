// berthctl cri attach: join a running container's output (and with -i its stdin) through
// Attach and a session on the runtime's streaming server, as crictl does. berthctl leaves
// when the container exits, when its own stdin ends (with -i), or on Ctrl-C without a
// terminal; the container keeps running.

import { BerthError } from "@berth/client";
import { parseOptions } from "../../command.js";
import { criCommand, requireOneId } from "./context.js";
import { containerCallFailure, runSession, withoutPrefix } from "./remote-command.js";

export const attachCommand = criCommand({
  name: "attach",
  summary: "attach to a running container's output (and stdin)",
  synopsis: "[-i] [-t] CONTAINER-ID",
  help: [
    "-i, --stdin           pass berthctl's stdin to the container (created with stdin: true);",
    "                      berthctl detaches when it ends",
    "-t, --tty             the container has a terminal (tty: true): raw mode here with -i,",
    "                      sizes passed on",
    "",
    "berthctl stays until the container exits or it detaches; the container keeps running.",
  ],
  async run(ctx, argv) {
    const { values, positionals } = parseOptions(
      argv,
      { stdin: { type: "boolean", short: "i" }, tty: { type: "boolean", short: "t" } },
      "cri attach",
    );
    const id = requireOneId(positionals, "attach", "CONTAINER-ID");
    const stdin = values.stdin === true;
    const tty = values.tty === true;
    const { url } = await ctx.cri.runtime
      .attach({ containerId: id, stdin, stdout: true, stderr: !tty, tty }, { signal: ctx.signal })
      .catch((err) => containerCallFailure(err, id));
    const outcome = await runSession(ctx, { url, stdin, tty, detachOnStdinEnd: stdin });
    if (outcome.kind === "error") {
      const message = withoutPrefix(outcome.message);
      const next = /stdin pipe/.test(message)
        ? "leave out -i, or create the container with stdin: true in its config"
        : "check the runtime's log";
      throw new BerthError("Unknown", `cannot attach to ${id}: ${message}: ${next}`);
    }
    // The container exited, berthctl detached, or a signal asked it to leave: all fine.
  },
});
