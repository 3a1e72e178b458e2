// The shim's command line, parsed the way Go's flag package parses it (containerd starts
// shims with Go-style flags): `-name value`, `--name value`, `-name=value`, boolean flags
// without a value, and parsing stops at the first argument that is not a flag or at `--`.

export interface ShimFlags {
  namespace: string;
  id: string;
  /** The daemon's gRPC socket. */
  address: string;
  publishBinary: string;
  /** Bundle path when it is not the working directory (the `delete` action). */
  bundle: string;
  /** Serve on this socket path instead of an inherited descriptor. */
  socket: string;
  debug: boolean;
  version: boolean;
  /** "start", "delete", or "" to serve. */
  action: string;
}

const stringFlags = {
  namespace: "namespace",
  id: "id",
  address: "address",
  "publish-binary": "publishBinary",
  bundle: "bundle",
  socket: "socket",
} as const satisfies Record<string, keyof ShimFlags>;

const boolFlags = { debug: "debug", v: "version", version: "version" } as const satisfies Record<
  string,
  keyof ShimFlags
>;

export class FlagError extends Error {
  override name = "FlagError";
}

function isStringFlag(name: string): name is keyof typeof stringFlags {
  return Object.hasOwn(stringFlags, name);
}

function isBoolFlag(name: string): name is keyof typeof boolFlags {
  return Object.hasOwn(boolFlags, name);
}

export function parseFlags(argv: readonly string[]): ShimFlags {
  const flags: ShimFlags = {
    namespace: "",
    id: "",
    address: "",
    publishBinary: "containerd",
    bundle: "",
    socket: "",
    debug: false,
    version: false,
    action: "",
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (arg.length < 2 || arg[0] !== "-") break;
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw new FlagError(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    if (isBoolFlag(name)) {
      flags[boolFlags[name]] = inline === undefined ? true : parseBool(name, inline);
    } else if (isStringFlag(name)) {
      let value = inline;
      if (value === undefined) {
        if (i + 1 >= argv.length) throw new FlagError(`flag needs an argument: -${name}`);
        value = argv[++i]!;
      }
      flags[stringFlags[name]] = value;
    } else {
      throw new FlagError(`flag provided but not defined: -${name}`);
    }
  }
  flags.action = argv[i] ?? "";
  return flags;
}

function parseBool(name: string, value: string): boolean {
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new FlagError(`invalid boolean value "${value}" for -${name}`);
}
