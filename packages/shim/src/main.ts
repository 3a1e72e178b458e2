#!/usr/bin/env node
// containerd-shim-berth-v2: the shim v2 binary. `start` and `delete` are one-shot actions
// the daemon runs; without an action the program serves the Task API (started by `start`).

import { buildInfo } from "@berth/client/build-info";
import { setProcessTitle } from "@berth/client/process-title";
import { FlagError, parseFlags } from "./flags.js";

const NAME = "containerd-shim-berth-v2";

// ps shows "containerd-shim-berth-v2 -namespace … -id … -address …" rather than node and the
// script path; pgrep -x finds the comm "containerd-shim", as for runc's shim.
setProcessTitle(NAME, process.argv.slice(2));

async function main(argv: string[]): Promise<number> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(
        `${err.message}\nUsage of ${NAME}: -namespace NS -address ADDR -id ID [-debug] [-bundle DIR] start|delete\n`,
      );
      return 2;
    }
    throw err;
  }
  if (flags.version) {
    const { version, revision } = buildInfo();
    process.stdout.write(
      `${NAME}:\n  Version:  ${version}\n  Revision: ${revision}\n  Node:     ${process.version}\n\n`,
    );
    return 0;
  }
  if (flags.namespace === "") throw new Error("shim namespace cannot be empty");
  switch (flags.action) {
    case "start": {
      const { startShim } = await import("./start.js");
      const script = process.argv[1];
      if (script === undefined) throw new Error("cannot find this program's script path");
      const address = await startShim(flags, {
        execPath: process.execPath,
        args: [...process.execArgv, script],
      });
      process.stdout.write(address);
      return 0;
    }
    case "delete": {
      const { deleteShim } = await import("./delete.js");
      const response = await deleteShim(flags, (m) => process.stderr.write(`${m}\n`));
      process.stdout.write(response);
      return 0;
    }
    case "": {
      const { serve } = await import("./serve.js");
      await serve(flags);
      return -1; // keeps running
    }
    default:
      throw new Error(`unknown action ${JSON.stringify(flags.action)}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`${NAME}: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
