// What a berthctl command is: a name, a one-line summary, its synopsis and a run function
// that gets the global settings and its own arguments. Groups ("images", "tasks",
// "containers", "cri") hold commands, a few (run, info, version) stand alone; each command
// lives in its own file under commands/.

import { type ParseArgsConfig, parseArgs } from "node:util";
import type { Connection } from "@berth/client";

/** Where a command writes: process.stdout/stderr, or a buffer in tests. */
export interface Output {
  write(chunk: string | Uint8Array): unknown;
  /** For back-pressure when copying a process's output. */
  once?(event: "drain", listener: () => void): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

/** What a command reads: process.stdin, or a stream in tests. */
export interface Input extends NodeJS.ReadableStream {
  isTTY?: boolean;
  /** Present on terminals: raw mode passes every key through, as a container's terminal expects. */
  setRawMode?(raw: boolean): unknown;
}

/** The signals of the berthctl process, for commands that attach to a container's process. */
export interface SignalHooks {
  /**
   * Hands the signals that would otherwise stop berthctl (INT, TERM, HUP, QUIT, USR2) to
   * `handler` until the returned function is called.
   */
  forward(handler: (signal: NodeJS.Signals) => void): () => void;
  /** Calls `handler` when the terminal on stdout changes size, until the returned function is called. */
  onResize(handler: () => void): () => void;
}

export interface GlobalOptions {
  /** Daemon socket path. */
  address: string;
  namespace: string;
  /** containerd's hosts directory for registry access (`--hosts-dir`), for pull and push. */
  hostsDir?: string;
}

export interface CommandContext {
  global: GlobalOptions;
  stdout: Output;
  stderr: Output;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM (unless a command forwards them). */
  signal: AbortSignal;
  /** berthctl's standard input; undefined when there is none to attach. */
  stdin: Input | undefined;
  /** undefined where berthctl does not own the process's signals (tests). */
  signals: SignalHooks | undefined;
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
  /**
   * For commands that take a command line to run (run, tasks exec): their options, which
   * end at the first argument; everything after it is passed through untouched.
   */
  leadingOptions?: OptionsConfig;
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

export function commandPath(group: CommandGroup | undefined, command: Command): string {
  return group !== undefined ? `${group.name} ${command.name}` : command.name;
}

export function matches(name: string, entry: { name: string; aliases?: readonly string[] }): boolean {
  return entry.name === name || (entry.aliases ?? []).includes(name);
}

export type OptionsConfig = NonNullable<ParseArgsConfig["options"]>;

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

/**
 * Splits argv where the options end: at the first argument that is neither an option nor
 * an option's value, or after "--". `rest` starts with that argument.
 */
export function splitLeadingOptions(
  argv: readonly string[],
  options: OptionsConfig,
): { head: string[]; rest: string[] } {
  const takesValue = (name: string) => options[name]?.type === "string";
  const byShort = new Map(
    Object.entries(options)
      .filter(([, o]) => o.short !== undefined)
      .map(([name, o]) => [o.short as string, name]),
  );
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === "--") return { head: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (!arg.startsWith("-") || arg === "-") break;
    i++;
    if (arg.startsWith("--")) {
      if (!arg.includes("=") && takesValue(arg.slice(2))) i++;
      continue;
    }
    // -abc: booleans, possibly ending with one that takes a value (attached or next).
    for (let j = 1; j < arg.length; j++) {
      const name = byShort.get(arg[j]!);
      if (name !== undefined && takesValue(name)) {
        if (j === arg.length - 1) i++;
        break;
      }
    }
  }
  return { head: argv.slice(0, i), rest: argv.slice(i) };
}

/**
 * Like parseOptions for commands that run a command line: options first, then the
 * arguments, of which everything from the first on is returned as is (options of the
 * command line included).
 */
export function parseLeadingOptions<T extends OptionsConfig>(
  argv: string[],
  options: T,
  commandName: string,
): { values: ParsedOptions<T>["values"]; positionals: string[] } {
  const { head, rest } = splitLeadingOptions(argv, options);
  const { values } = parseOptions(head, options, commandName);
  return { values, positionals: rest };
}
