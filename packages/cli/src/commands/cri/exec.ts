// berthctl cri exec: run a command in a running container and pass on its output and exit
// code: through ExecSync, or with -i (stdin) and -t (a terminal) through Exec and a session
// on the runtime's streaming server, as crictl does.

import { BerthError, errorKind } from "@berth/client";
import { ReportedError, UsageError, parseLeadingOptions } from "../../command.js";
import { type CriContext, criCommand, notFoundAs, wholeNumber } from "./context.js";
import { type SessionOutcome, containerCallFailure, runSession, withoutPrefix } from "./remote-command.js";

const options = {
  sync: { type: "boolean", short: "s" },
  timeout: { type: "string" },
  interactive: { type: "boolean", short: "i" },
  tty: { type: "boolean", short: "t" },
} as const;

export const execCommand = criCommand({
  name: "exec",
  summary: "run a command in a running container",
  synopsis: "[-s] [--timeout SECONDS] [-i] [-t] CONTAINER-ID COMMAND [ARG...]",
  help: [
    "-s, --sync            run it synchronously (ExecSync): output comes when it ends",
    "--timeout SECONDS     stop a synchronous command after this long (default 0: no limit)",
    "-i, --interactive     pass berthctl's stdin to the command; its end closes the command's stdin",
    "-t, --tty             give the command a terminal (raw mode here with -i, sizes passed on)",
    "",
    "Options go before CONTAINER-ID; everything after it is the command and its arguments.",
    "Without -i or -t the command runs synchronously, with or without -s; with them, through",
    "the runtime's streaming server, and the command is killed when berthctl goes away.",
    "berthctl exits with the command's exit code.",
  ],
  leadingOptions: options,
  async run(ctx, argv) {
    const { values, positionals } = parseLeadingOptions(argv, options, "cri exec");
    const mode = execMode(values);
    const [id, ...cmd] = positionals;
    if (id === undefined || id === "") {
      throw new UsageError(
        "cri exec needs a container ID: berthctl cri exec [-s] CONTAINER-ID COMMAND [ARG...]",
      );
    }
    if (cmd.length === 0) {
      throw new UsageError(`cri exec needs a command to run: berthctl cri exec ${id} COMMAND [ARG...]`);
    }
    if (mode.kind === "streaming") {
      await execStreaming(ctx, id, cmd, mode);
      return;
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

export type ExecMode = { kind: "sync" } | { kind: "streaming"; stdin: boolean; tty: boolean };

/** ExecSync, or a streaming session with -i and/or -t (which ExecSync cannot give). */
export function execMode(values: {
  sync?: boolean;
  timeout?: string;
  interactive?: boolean;
  tty?: boolean;
}): ExecMode {
  const stdin = values.interactive === true;
  const tty = values.tty === true;
  if (!stdin && !tty) return { kind: "sync" };
  if (values.sync === true) {
    throw new UsageError(
      "-s runs the command through ExecSync, which has no stdin or terminal: leave out -s, or -i and -t",
    );
  }
  if (values.timeout !== undefined) {
    throw new UsageError(
      "--timeout applies to synchronous commands only: leave it out with -i or -t (Ctrl-C or the end of the command ends the session)",
    );
  }
  return { kind: "streaming", stdin, tty };
}

/** Exec, then the session on the streaming server; ends with the command's exit code. */
async function execStreaming(
  ctx: CriContext,
  id: string,
  cmd: string[],
  mode: { stdin: boolean; tty: boolean },
): Promise<void> {
  const { url } = await ctx.cri.runtime
    .exec(
      { containerId: id, cmd, stdin: mode.stdin, stdout: true, stderr: !mode.tty, tty: mode.tty },
      { signal: ctx.signal },
    )
    .catch((err) => containerCallFailure(err, id));
  const outcome = await runSession(ctx, { url, stdin: mode.stdin, tty: mode.tty, detachOnStdinEnd: false });
  finishExec(outcome, id, cmd);
}

/** Passes the command's exit code on; says what went wrong otherwise. */
export function finishExec(outcome: SessionOutcome, id: string, cmd: readonly string[]): void {
  switch (outcome.kind) {
    case "success":
    case "detached":
      return;
    case "exit":
      throw new ReportedError(outcome.code);
    case "interrupted":
      // The runtime kills the command once its session is gone, as a shell's Ctrl-C would.
      throw new ReportedError(130);
    case "error":
      throw new BerthError(
        "Unknown",
        `cannot run ${cmd.join(" ")} in ${id}: ${withoutPrefix(outcome.message)}: check the command, and the runtime's log`,
      );
  }
}
