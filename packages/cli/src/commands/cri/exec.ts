// berthctl cri exec: run a command in a running container through ExecSync and pass on
// its output and exit code. Interactive exec (-i, -t) needs CRI's streaming server,
// which berth-cri does not serve yet.

import { BerthError, errorKind } from "@berth/client";
import { ReportedError, UsageError, parseLeadingOptions } from "../../command.js";
import { criCommand, notFoundAs, wholeNumber } from "./context.js";

const options = {
  sync: { type: "boolean", short: "s" },
  timeout: { type: "string" },
  interactive: { type: "boolean", short: "i" },
  tty: { type: "boolean", short: "t" },
} as const;

export const execCommand = criCommand({
  name: "exec",
  summary: "run a command in a running container",
  synopsis: "[-s] [--timeout SECONDS] CONTAINER-ID COMMAND [ARG...]",
  help: [
    "-s, --sync            run it synchronously (ExecSync): output comes when it ends",
    "--timeout SECONDS     stop the command after this long (default 0: no limit)",
    "-i, -t                interactive, with a terminal: needs the streaming server (not yet)",
    "",
    "Options go before CONTAINER-ID; everything after it is the command and its arguments.",
    "Without -i or -t the command runs synchronously, with or without -s.",
    "berthctl exits with the command's exit code.",
  ],
  leadingOptions: options,
  async run(ctx, argv) {
    const { values, positionals } = parseLeadingOptions(argv, options, "cri exec");
    if (values.interactive === true || values.tty === true) {
      throw new BerthError(
        "NotImplemented",
        "interactive exec needs the streaming server, not available yet: drop -i and -t to run the command through ExecSync",
      );
    }
    const [id, ...cmd] = positionals;
    if (id === undefined || id === "") {
      throw new UsageError(
        "cri exec needs a container ID: berthctl cri exec [-s] CONTAINER-ID COMMAND [ARG...]",
      );
    }
    if (cmd.length === 0) {
      throw new UsageError(`cri exec needs a command to run: berthctl cri exec ${id} COMMAND [ARG...]`);
    }
    const timeout = wholeNumber(values.timeout, "--timeout", 0);
    const r = await ctx.cri.runtime
      .execSync({ containerId: id, cmd, timeout: BigInt(timeout) }, { signal: ctx.signal })
      .catch((err) => {
        if (errorKind(err) === "DeadlineExceeded") {
          throw new BerthError(
            "DeadlineExceeded",
            `${cmd.join(" ")} ran longer than --timeout ${timeout} in ${id} and was stopped: give it more time`,
          );
        }
        return notFoundAs(err, `container ${id} not found: see 'berthctl cri ps'`);
      });
    if (r.stdout.length > 0) ctx.stdout.write(r.stdout);
    if (r.stderr.length > 0) ctx.stderr.write(r.stderr);
    if (r.exitCode !== 0) throw new ReportedError(r.exitCode);
  },
});
