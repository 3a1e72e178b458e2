// Signal names and numbers as `ctr tasks kill -s` takes them: "SIGKILL", "KILL", "kill" or "9".

import { constants } from "node:os";
import { invalidArgument } from "../errdefs.js";

const byName = constants.signals as Readonly<Record<string, number>>;

/** The signal number for a name or number; InvalidArgument for anything else. */
export function parseSignal(text: string): number {
  const s = text.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= 64) return n;
    throw invalidArgument(`invalid signal ${text}: numbers go from 1 to 64`);
  }
  const upper = s.toUpperCase();
  const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  const n = byName[name];
  if (n === undefined)
    throw invalidArgument(`unknown signal ${text}: use a name such as SIGTERM or a number`);
  return n;
}

/** "SIGTERM" for 15; the number as text when it has no name. */
export function signalName(n: number): string {
  for (const [name, value] of Object.entries(byName)) if (value === n) return name;
  return String(n);
}
