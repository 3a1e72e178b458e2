// What a `berthctl cri` command gets: the usual command context plus a client of the CRI
// endpoint (from --runtime-endpoint, BERTH_CRI_ENDPOINT or the default), opened for the
// command and closed when it ends; and the few habits the commands share.

import { BerthError, isNotFound } from "@berth/client";
import { type Command, type CommandContext, ReportedError, UsageError } from "../../command.js";
import { type CriClient, connectCri, criEndpoint } from "../../cri-client.js";

export interface CriContext extends CommandContext {
  cri: CriClient;
}

export interface CriCommandSpec extends Omit<Command, "run"> {
  run(ctx: CriContext, argv: string[]): Promise<void>;
}

/**
 * A berthctl command from a CRI one. berthctl hands --runtime-endpoint over as
 * BERTH_CRI_ENDPOINT in the command's environment, so the option wins over the variable.
 */
export function criCommand(spec: CriCommandSpec): Command {
  return {
    ...spec,
    async run(ctx, argv) {
      const cri = connectCri(criEndpoint(undefined, ctx.env));
      try {
        await spec.run({ ...ctx, cri }, argv);
      } finally {
        cri.close();
      }
    },
  };
}

/** The IDs a command acts on; at least one. */
export function requireIds(positionals: readonly string[], command: string, what: string): string[] {
  if (positionals.length === 0 || positionals.some((id) => id === "")) {
    throw new UsageError(`cri ${command} needs at least one ${what}: berthctl cri ${command} ${what}...`);
  }
  return [...positionals];
}

/** The one ID a command acts on. */
export function requireOneId(positionals: readonly string[], command: string, what: string): string {
  const [id, ...extra] = positionals;
  if (id === undefined || id === "") {
    throw new UsageError(`cri ${command} needs a ${what}: berthctl cri ${command} ${what}`);
  }
  if (extra.length > 0) {
    throw new UsageError(`cri ${command} takes one ${what}, got ${positionals.length}: run it once for each`);
  }
  return id;
}

/** -o/--output: one of `allowed` (the first is the default). */
export function outputFormat<T extends string>(value: string | undefined, allowed: readonly T[]): T {
  const format = value ?? allowed[0]!;
  if (!(allowed as readonly string[]).includes(format)) {
    throw new UsageError(
      `unknown output format ${JSON.stringify(format)}: use ${allowed.map((a) => `-o ${a}`).join(" or ")}`,
    );
  }
  return format as T;
}

/** A whole number of seconds (or another unit), for --timeout and the like. */
export function wholeNumber(text: string | undefined, option: string, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`${option} takes a whole number, not ${JSON.stringify(text)}: e.g. ${option} 10`);
  }
  return Number(text);
}

/**
 * Runs `action` for each ID in turn. With one ID its failure is the command's; with more,
 * each failure is reported on its own line, the others still run, and the command fails.
 */
export async function eachId(
  ctx: CriContext,
  ids: readonly string[],
  action: (id: string) => Promise<void>,
): Promise<void> {
  let failed = false;
  for (const id of ids) {
    try {
      await action(id);
    } catch (err) {
      if (ids.length === 1 || ctx.signal.aborted) throw err;
      ctx.stderr.write(`berthctl: ${err instanceof Error ? err.message : String(err)}\n`);
      failed = true;
    }
  }
  if (failed) throw new ReportedError(1);
}

/** Rethrows a NotFound from the runtime as `message` (which says where to look). */
export function notFoundAs(err: unknown, message: string): never {
  if (isNotFound(err)) throw new BerthError("NotFound", message);
  throw err;
}

/** Warnings about a config file, one line each. */
export function warnConfig(ctx: CommandContext, path: string, warnings: readonly string[]): void {
  for (const w of warnings) ctx.stderr.write(`berthctl: ${path}: ${w} is ignored: check its spelling\n`);
}
