// berthctl's command line: global options, dispatch to a command, and one-line errors
// ("berthctl: <what went wrong>: <what to do next>") with exit code 1.

import {
  BerthError,
  type Connection,
  DEFAULT_ADDRESS,
  DEFAULT_NAMESPACE,
  connect,
  errorKind,
} from "@berth/client";
import { versionLine } from "@berth/client/build-info";
import { ClientError } from "nice-grpc";
import {
  type Command,
  type CommandContext,
  type CommandGroup,
  type GlobalOptions,
  type Input,
  type Output,
  ReportedError,
  type SignalHooks,
  UsageError,
  commandPath,
  matches,
  splitLeadingOptions,
} from "./command.js";
import { criGroup, criOptionHelp, parseCriOptions } from "./commands/cri/index.js";
import { commandGroups, topLevelCommands } from "./commands/index.js";

export interface RunEnvironment {
  stdout: Output;
  stderr: Output;
  env: Readonly<Record<string, string | undefined>>;
  signal: AbortSignal;
  /** process.stdin; commands that attach to a container's process read it. */
  stdin?: Input;
  signals?: SignalHooks;
}

/** "  images pull SYNOPSIS   summary", wrapped under the synopsis when it is long. */
function commandLine(left: string, summary: string): string {
  return left.length <= 44 ? `${left.padEnd(46)}${summary}` : `${left}\n${" ".repeat(46)}${summary}`;
}

export function usage(
  groups: readonly CommandGroup[] = commandGroups,
  commands: readonly Command[] = topLevelCommands,
): string {
  const lines = [
    "Usage: berthctl [--address SOCK] [--namespace NS] <command> [options]",
    "       berthctl cri [--runtime-endpoint SOCK] <command> [options]",
    "",
    "Talks to berthd, or to containerd 1.6, over its gRPC socket; the cri commands talk",
    "to a CRI runtime (berth-cri) over its socket instead.",
    "",
    "Global options:",
    `  -a, --address SOCK    daemon socket (default ${DEFAULT_ADDRESS}, env BERTH_ADDRESS)`,
    `  -n, --namespace NS    namespace (default "${DEFAULT_NAMESPACE}", env BERTH_NAMESPACE)`,
    "      --hosts-dir DIR   registry hosts in containerd's format (DIR/<host>/hosts.toml), for pull and push",
    "  -h, --help            show this help",
    "  -v, --version         show berthctl's version (the daemon's too: berthctl version)",
    "",
    "Options of cri, before its command:",
    ...criOptionHelp.map((h) => `  ${h}`),
    "",
    "Commands:",
  ];
  for (const command of commands) {
    lines.push(commandLine(`  ${command.name} ${command.synopsis}`, command.summary));
  }
  for (const group of groups) {
    for (const command of group.commands) {
      lines.push(commandLine(`  ${commandPath(group, command)} ${command.synopsis}`, command.summary));
    }
  }
  lines.push("", "Run 'berthctl <command> --help' for a command's options.");
  return `${lines.join("\n")}\n`;
}

function commandHelp(group: CommandGroup | undefined, command: Command): string {
  const lines = [
    `Usage: berthctl ${commandPath(group, command)} ${command.synopsis}`,
    "",
    `${command.summary}.`,
  ];
  if (command.help.length > 0) {
    lines.push("", "Options:", ...command.help.map((h) => (h === "" ? "" : `  ${h}`)));
  }
  return `${lines.join("\n")}\n`;
}

function groupHelp(group: CommandGroup): string {
  const cri = group === criGroup;
  const lines = [
    `Usage: berthctl ${group.name}${cri ? " [--runtime-endpoint SOCK]" : ""} <command> [options]`,
    "",
    ...(cri ? ["Options:", ...criOptionHelp.map((h) => `  ${h}`), ""] : []),
    "Commands:",
  ];
  for (const c of group.commands) lines.push(commandLine(`  ${c.name} ${c.synopsis}`, c.summary));
  return `${lines.join("\n")}\n`;
}

/** Splits the global options off the front of argv. */
export function parseGlobal(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): { global: GlobalOptions; help: boolean; rest: string[] } {
  const global: GlobalOptions = {
    address: nonEmpty(env.BERTH_ADDRESS) ?? DEFAULT_ADDRESS,
    namespace: nonEmpty(env.BERTH_NAMESPACE) ?? DEFAULT_NAMESPACE,
  };
  let help = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (!arg.startsWith("-")) break;
    if (arg === "--") {
      i++;
      break;
    }
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v === "") throw new UsageError(`${name} needs a value: see 'berthctl --help'`);
      return v;
    };
    switch (name) {
      case "-a":
      case "--address":
        global.address = value();
        break;
      case "-n":
      case "--namespace":
        global.namespace = value();
        break;
      case "--hosts-dir":
        global.hostsDir = value();
        break;
      case "-h":
      case "--help":
        help = true;
        break;
      default:
        throw new UsageError(`unknown global option ${name}: see 'berthctl --help'`);
    }
  }
  return { global, help, rest: argv.slice(i) };
}

/** --help or -h among a command's options (not in a command line it runs, nor after "--"). */
function wantsHelp(command: Command, args: readonly string[]): boolean {
  let options: readonly string[];
  if (command.leadingOptions !== undefined) {
    options = splitLeadingOptions(args, {
      ...command.leadingOptions,
      help: { type: "boolean", short: "h" },
    }).head;
  } else {
    const dashDash = args.indexOf("--");
    options = dashDash < 0 ? args : args.slice(0, dashDash);
  }
  return options.includes("--help") || options.includes("-h");
}

function nonEmpty(s: string | undefined): string | undefined {
  return s !== undefined && s !== "" ? s : undefined;
}

/** Runs berthctl with `argv` (without node and the script); resolves to the exit code. */
export async function run(argv: readonly string[], io: RunEnvironment): Promise<number> {
  let connection: Connection | undefined;
  let address = DEFAULT_ADDRESS;
  try {
    if (argv[0] === "--version" || argv[0] === "-v") {
      io.stdout.write(versionLine("berthctl"));
      return 0;
    }
    const { global, help, rest } = parseGlobal(argv, io.env);
    address = global.address;
    const [groupName] = rest;
    if (groupName === undefined) {
      (help ? io.stdout : io.stderr).write(usage());
      return help ? 0 : 1;
    }
    if (groupName === "help") {
      io.stdout.write(usage());
      return 0;
    }
    // `cri [--runtime-endpoint SOCK] <command>`: the endpoint reaches the cri commands
    // through their environment, where it overrides BERTH_CRI_ENDPOINT.
    const cri = groupName === criGroup.name ? parseCriOptions(rest.slice(1), io.env) : undefined;
    const [commandName, ...args] = cri?.rest ?? rest.slice(1);
    const ctx: CommandContext = {
      global,
      stdout: io.stdout,
      stderr: io.stderr,
      env: cri?.env ?? io.env,
      signal: io.signal,
      stdin: io.stdin,
      signals: io.signals,
      connect: () => {
        connection ??= connect({ address: global.address, namespace: global.namespace });
        return connection;
      },
    };
    const topLevel = topLevelCommands.find((c) => matches(groupName, c));
    if (topLevel !== undefined) {
      const args = rest.slice(1);
      if (help || wantsHelp(topLevel, args)) {
        io.stdout.write(commandHelp(undefined, topLevel));
        return 0;
      }
      await topLevel.run(ctx, args);
      return 0;
    }
    const group = commandGroups.find((g) => matches(groupName, g));
    if (group === undefined) {
      io.stderr.write(`berthctl: unknown command "${groupName}": see the usage below\n\n${usage()}`);
      return 1;
    }
    if (
      commandName === undefined ||
      commandName === "--help" ||
      commandName === "-h" ||
      commandName === "help"
    ) {
      (commandName === undefined ? io.stderr : io.stdout).write(groupHelp(group));
      return commandName === undefined ? 1 : 0;
    }
    const command = group.commands.find((c) => matches(commandName, c));
    if (command === undefined) {
      io.stderr.write(
        `berthctl: unknown command "${groupName} ${commandName}": see the usage below\n\n${groupHelp(group)}`,
      );
      return 1;
    }
    if (help || wantsHelp(command, args)) {
      io.stdout.write(commandHelp(group, command));
      return 0;
    }
    await command.run(ctx, args);
    return 0;
  } catch (err) {
    if (err instanceof ReportedError) return err.exitCode;
    if (io.signal.aborted) {
      io.stderr.write("berthctl: interrupted: run the command again to resume\n");
      return 130;
    }
    io.stderr.write(`berthctl: ${describeError(err, address)}\n`);
    return 1;
  } finally {
    connection?.close();
  }
}

const UNREACHABLE = /No connection established|ECONNREFUSED|ENOENT|failed to connect|Connection dropped/i;

/** The useful part of grpc-js's connection failures: "connect ENOENT /path" → "connect ENOENT". */
function connectFailure(message: string): string {
  const m = /connect (E[A-Z]+)/.exec(message);
  return m !== null ? `connect ${m[1]}` : message;
}

/** One line saying what went wrong and what to do next. */
export function describeError(err: unknown, address: string): string {
  const message = oneLine(err instanceof Error ? err.message : String(err));
  if (err instanceof UsageError) return message;
  const fromDaemon = err instanceof BerthError && err.cause instanceof ClientError;
  if (fromDaemon) {
    const kind = errorKind(err);
    if (kind === "Unavailable" && UNREACHABLE.test(message)) {
      return `cannot reach the daemon at ${address} (${connectFailure(message)}): is berthd running? Pass --address or set BERTH_ADDRESS`;
    }
    if (/EACCES|permission denied/i.test(message)) {
      return `no permission to use the daemon socket ${address}: run as root, or as a member of the socket's group`;
    }
    if (kind === "NotImplemented")
      return `${message}: the daemon at ${address} does not support this; check its version`;
    return `the daemon answered: ${message}: check the daemon's log`;
  }
  if (err instanceof BerthError) return message;
  return `${message}: this is unexpected; please report it`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}
