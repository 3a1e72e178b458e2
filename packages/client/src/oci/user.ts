// Users and groups of a container: the /etc/passwd and /etc/group of its image (the caller
// reads them from the rootfs), and the user strings of images and CRI security contexts
// ("uid", "uid:gid", "name", "name:group", …) resolved against them.

import { invalidArgument } from "../errdefs.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The process user a user string resolves to. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Groups of /etc/group that list the user as a member (its primary group excluded). */
  additionalGids: number[];
}

/** Look a user up by name or by decimal uid; undefined when the image has no such user. */
export type PasswdLookup = (user: string) => ResolvedUser | undefined;
/** Look a group up by name; its gid, or undefined when the image has no such group. */
export type GroupLookup = (group: string) => number | undefined;

function id(field: string | undefined): number | undefined {
  if (field === undefined || !/^\d+$/.test(field)) return undefined;
  const n = Number(field);
  return n <= 0xffffffff ? n : undefined;
}

/** Entries of an /etc/passwd; malformed lines and comments are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const f = trimmed.split(":");
    const uid = id(f[2]);
    const gid = id(f[3]);
    if (f[0] === undefined || f[0] === "" || uid === undefined || gid === undefined) continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? "", shell: f[6] ?? "" });
  }
  return out;
}

/** Entries of an /etc/group; malformed lines and comments are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#")) continue;
    const f = trimmed.split(":");
    const gid = id(f[2]);
    if (f[0] === undefined || f[0] === "" || gid === undefined) continue;
    const members = (f[3] ?? "")
      .split(",")
      .map((m) => m.trim())
      .filter((m) => m !== "");
    out.push({ name: f[0], gid, members });
  }
  return out;
}

/**
 * Lookups over an image's /etc/passwd and /etc/group contents (either may be missing).
 * The first entry of a name or uid wins, as getpwnam does.
 */
export function userDatabase(
  passwdText: string | undefined,
  groupText: string | undefined,
): { passwd: PasswdLookup; group: GroupLookup } {
  const users = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);
  const passwd: PasswdLookup = (user) => {
    const uid = id(user);
    const entry = users.find((u) => (uid === undefined ? u.name === user : u.uid === uid));
    if (entry === undefined) return undefined;
    const additionalGids = groups
      .filter((g) => g.name !== entry.name && g.members.includes(entry.name))
      .map((g) => g.gid);
    return { uid: entry.uid, gid: entry.gid, additionalGids: sortedUnique(additionalGids) };
  };
  const group: GroupLookup = (name) => groups.find((g) => g.name === name)?.gid;
  return { passwd, group };
}

export function sortedUnique(ids: Iterable<number>): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

/**
 * The uid and gid of an OCI image user string ("uid", "uid:gid", "name", "name:gid",
 * "uid:group", "name:group"), resolved as containerd does: a uid alone takes its primary
 * group from /etc/passwd when listed there (else gid 0); a name must be listed; an explicit
 * group replaces the primary one. `additionalGids` are the user's /etc/group memberships.
 */
export function imageUser(user: string, passwd?: PasswdLookup, group?: GroupLookup): ResolvedUser {
  const parts = user.split(":");
  if (parts.length > 2 || parts.some((p) => p === "")) {
    throw invalidArgument(
      `invalid user ${JSON.stringify(user)}: use "uid", "uid:gid", "name", "name:group" (an empty part is not allowed)`,
    );
  }
  const [userPart = "", groupPart] = parts;
  const uid = id(userPart);
  let resolved: ResolvedUser;
  if (uid !== undefined) {
    const entry = passwd?.(userPart);
    resolved = { uid, gid: entry?.gid ?? 0, additionalGids: entry?.additionalGids ?? [] };
  } else {
    const entry = passwd?.(userPart);
    if (entry === undefined) {
      throw invalidArgument(
        `user ${JSON.stringify(userPart)} is not in the image's /etc/passwd: add the user to the image or give a numeric uid (run_as_user)`,
      );
    }
    resolved = { ...entry, additionalGids: [...entry.additionalGids] };
  }
  if (groupPart !== undefined) {
    const gid = id(groupPart) ?? group?.(groupPart);
    if (gid === undefined) {
      throw invalidArgument(
        `group ${JSON.stringify(groupPart)} is not in the image's /etc/group: add the group to the image or give a numeric gid (run_as_group)`,
      );
    }
    resolved.gid = gid;
  }
  return resolved;
}

/**
 * The user string a CRI security context asks for: run_as_username wins over run_as_user,
 * run_as_group is appended as ":gid"; empty when neither user field is set. A group
 * without a user is an error, as in CRI.
 */
export function securityContextUser(
  username: string,
  runAsUser: { value: bigint | number } | undefined,
  runAsGroup: { value: bigint | number } | undefined,
): string {
  for (const [field, v] of [
    ["run_as_user", runAsUser],
    ["run_as_group", runAsGroup],
  ] as const) {
    if (v === undefined) continue;
    const text = String(v.value);
    if (!/^\d+$/.test(text) || BigInt(text) > 0xffffffffn) {
      throw invalidArgument(`${field} ${text} is not a valid id: use a number from 0 to 4294967295`);
    }
  }
  let user = runAsUser === undefined ? "" : String(runAsUser.value);
  if (username !== "") user = username;
  if (user === "") {
    if (runAsGroup !== undefined) {
      throw invalidArgument(
        `run_as_group ${runAsGroup.value} is set without run_as_user or run_as_username: set a user too`,
      );
    }
    return "";
  }
  return runAsGroup === undefined ? user : `${user}:${runAsGroup.value}`;
}
