// What a berthctl command is: a name, a one-line summary, its synopsis and a run function
// that gets the global settings and its own arguments. Groups ("images", later "tasks",
// "cri") hold commands; each command lives in its own file under commands/.

import { type ParseArgsConfig, parseArgs } from "node:util";
import type { Connection } from "@berth/client";

/** Where a command writes: process.stdout/stderr, or a buffer in tests. */
export interface Output {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface GlobalOptions {
  /** Daemon socket path. */
  address: string;
  namespace: string;
}

export interface CommandContext {
  global: GlobalOptions;
  stdout: Output;
  stderr: Output;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** The daemon connection, opened on first use and closed when the command ends. */
  connect(): Connection;
}

export interface Command {
  name: string;
  aliases?: readonly string[];
  /** One line for the command list. */
  summary: string;
  /** Arguments after the command name: "[--sync] REF...". */
  synopsis: string;
  /** Option descriptions, one per line, shown by --help. */
  help: readonly string[];
  run(ctx: CommandContext, argv: string[]): Promise<void>;
}

export interface CommandGroup {
  name: string;
  aliases?: readonly string[];
  summary: string;
  commands: readonly Command[];
}

/** A mistake in how berthctl was called; the message says what to run instead. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure the command already explained to the user; only the exit code is left to set. */
export class ReportedError extends Error {
  constructor(readonly exitCode = 1) {
    super("reported");
    this.name = "ReportedError";
  }
}

export function commandPath(group: CommandGroup, command: Command): string {
  return `${group.name} ${command.name}`;
}

export function matches(name: string, entry: { name: string; aliases?: readonly string[] }): boolean {
  return entry.name === name || (entry.aliases ?? []).includes(name);
}

type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

/** What parseOptions returns: typed option values and the positional arguments. */
export type ParsedOptions<T extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>
>;

/** parseArgs with errors turned into UsageErrors that point at the command's help. */
export function parseOptions<T extends OptionsConfig>(
  argv: string[],
  options: T,
  commandName: string,
): ParsedOptions<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's messages run on ("Unknown option '--x'. To specify a positional…"): keep the first sentence.
    const first = (err instanceof Error ? err.message : String(err)).split(/\.(?:\s|$)/)[0] ?? "";
    const message = first.charAt(0).toLowerCase() + first.slice(1);
    throw new UsageError(`${message}: see 'berthctl ${commandName} --help'`);
  }
}
