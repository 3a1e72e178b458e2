// Signal names of image configs ("SIGTERM", "TERM", "15", "SIGRTMIN+3") as numbers.
import { constants } from "node:os";
import { invalidArgument } from "@berth/client";

const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function parseSignal(name: string): number {
  const s = name.trim().toUpperCase();
  if (s === "") return constants.signals.SIGTERM;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n >= 1 && n <= SIGRTMAX) return n;
    throw invalidArgument(`invalid signal ${JSON.stringify(name)}`);
  }
  const full = s.startsWith("SIG") ? s : `SIG${s}`;
  const known = (constants.signals as Record<string, number>)[full];
  if (known !== undefined) return known;
  const rt = /^SIGRTM(IN|AX)([+-]\d+)?$/.exec(full);
  if (rt !== null) {
    const base = rt[1] === "IN" ? SIGRTMIN : SIGRTMAX;
    const n = base + Number(rt[2] ?? 0);
    if (n >= SIGRTMIN && n <= SIGRTMAX) return n;
  }
  throw invalidArgument(`invalid signal ${JSON.stringify(name)} in the image's StopSignal`);
}
