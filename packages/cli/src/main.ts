#!/usr/bin/env node
// berthctl: only wires the process (argv, stdio, signals, exit code) to run().

import { setProcessTitle } from "@berth/client/process-title";
import { run } from "./berthctl.js";
import type { SignalHooks } from "./command.js";

// ps shows "berthctl …" rather than node and the script; pgrep -x finds "berthctl".
setProcessTitle("berthctl", process.argv.slice(2));

const controller = new AbortController();

/** While a command forwards signals (to a container's process), they go to it instead. */
let forwardTo: ((signal: NodeJS.Signals) => void) | undefined;

const stopping = ["SIGINT", "SIGTERM"] as const;
for (const name of stopping) {
  const onSignal = (signal: NodeJS.Signals) => {
    if (forwardTo !== undefined) return forwardTo(signal);
    controller.abort(new Error(`received ${signal}`));
    // A second one while stopping ends berthctl the default way.
    for (const n of stopping) process.removeListener(n, onSignal);
  };
  process.on(name, onSignal);
}

/** Signals that end berthctl by default and are only caught while forwarding. */
const forwardedOnly = ["SIGHUP", "SIGQUIT", "SIGUSR2"] as const;

const signals: SignalHooks = {
  forward(handler) {
    forwardTo = handler;
    for (const name of forwardedOnly) process.on(name, handler);
    return () => {
      if (forwardTo === handler) forwardTo = undefined;
      for (const name of forwardedOnly) process.removeListener(name, handler);
    };
  },
  onResize(handler) {
    process.stdout.on("resize", handler);
    return () => process.stdout.removeListener("resize", handler);
  },
};

// A reader that went away (`berthctl … | head`) ends berthctl as SIGPIPE ends other tools.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(128 + 13);
    throw err;
  });
}

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  signal: controller.signal,
  signals,
});
