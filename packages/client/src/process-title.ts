// What ps and pgrep show for Berth's programs instead of node and a script path.
import { writeFileSync } from "node:fs";

/**
 * Sets the process title to `name` and `args` (ps's args column; Linux can only rewrite
 * the original argv area, which node's own arguments and the script path make long
 * enough), then the comm pgrep -x and ps's comm column match: `name` cut to the 15
 * characters Linux keeps ("containerd-shim" for containerd-shim-berth-v2, as for runc's
 * shim). libuv would otherwise make the comm the title's first 15 characters.
 */
export function setProcessTitle(name: string, args: readonly string[]): void {
  process.title = [name, ...args].join(" ");
  try {
    // The main thread's comm, which is the process's.
    writeFileSync("/proc/self/comm", name.slice(0, 15));
  } catch {
    // no /proc: the title alone
  }
}
