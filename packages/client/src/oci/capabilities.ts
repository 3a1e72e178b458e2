// Linux capability names, by number, and the conversions CRI requests need: names with or
// without the CAP_ prefix in any case, and a capability mask from /proc/<pid>/status.

import { invalidArgument } from "../errdefs.js";

/** Capability names indexed by their number (linux/capability.h). */
export const CAPABILITY_NAMES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

const known = new Set(CAPABILITY_NAMES);

/**
 * The spec's name for a capability given as CRI allows it ("chown", "CHOWN", "CAP_CHOWN").
 * `field` names the request field for the error message.
 */
export function capabilityName(name: string, field: string): string {
  const upper = name.trim().toUpperCase();
  const full = upper.startsWith("CAP_") ? upper : `CAP_${upper}`;
  if (!known.has(full)) {
    throw invalidArgument(
      `unknown capability ${JSON.stringify(name)} in ${field}: use a Linux capability name such as NET_ADMIN or CAP_NET_ADMIN, or ALL`,
    );
  }
  return full;
}

/** The names of the capabilities set in a hexadecimal mask (CapEff: line of /proc/self/status). */
export function capabilitiesFromMask(hex: string): string[] {
  let mask = BigInt(`0x${hex.trim()}`);
  const out: string[] = [];
  for (let bit = 0; mask > 0n; bit++, mask >>= 1n) {
    const name = CAPABILITY_NAMES[bit];
    if ((mask & 1n) === 1n && name !== undefined) out.push(name);
  }
  return out;
}
