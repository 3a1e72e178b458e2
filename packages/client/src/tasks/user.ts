// The user an image's USER names ("", "uid", "name", "uid:gid", "name:group"…), resolved
// against the image's /etc/passwd and /etc/group the way containerd's oci.WithUser and
// WithAdditionalGIDs do: numeric users need no entry, names must have one, and the
// supplementary groups are those listing the user as a member.

import { invalidArgument } from "../errdefs.js";
import type { ResolvedUser } from "./spec.js";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** runc refuses IDs above int32. */
const MAX_ID = 2 ** 31 - 1;

function id(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function lines(text: string): string[][] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const [name, , uid, gid] of lines(text)) {
    const u = id(uid);
    const g = id(gid);
    if (name !== undefined && u !== undefined && g !== undefined) out.push({ name, uid: u, gid: g });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const [name, , gid, members] of lines(text)) {
    const g = id(gid);
    if (name === undefined || g === undefined) continue;
    out.push({ name, gid: g, members: (members ?? "").split(",").filter((m) => m !== "") });
  }
  return out;
}

/** The image's account files; undefined when the file is not there. */
export interface AccountFiles {
  passwd: string | undefined;
  group: string | undefined;
}

/** Resolves an image config's USER string to IDs and supplementary groups. */
export function resolveUser(user: string, files: AccountFiles): ResolvedUser {
  const passwd = files.passwd !== undefined ? parsePasswd(files.passwd) : undefined;
  const groups = files.group !== undefined ? parseGroup(files.group) : undefined;
  const noEntry = (what: string, file: string) =>
    invalidArgument(`the image's user ${JSON.stringify(user)}: no ${what} in the image's ${file}`);

  let uid: number;
  let gid: number;
  const parts = user.split(":");
  if (user === "") {
    uid = 0;
    gid = 0;
  } else if (parts.length === 1) {
    const numeric = id(user);
    if (numeric !== undefined) {
      const entry = passwd?.find((p) => p.uid === numeric);
      uid = numeric;
      gid = entry?.gid ?? 0;
    } else {
      const entry = passwd?.find((p) => p.name === user);
      if (entry === undefined) throw noEntry(`user ${user}`, "/etc/passwd");
      uid = entry.uid;
      gid = entry.gid;
    }
  } else if (parts.length === 2) {
    const [u = "", g = ""] = parts;
    const numericUid = id(u);
    const numericGid = id(g);
    if (numericUid !== undefined) {
      uid = numericUid;
    } else {
      const entry = passwd?.find((p) => p.name === u);
      if (entry === undefined) throw noEntry(`user ${u}`, "/etc/passwd");
      uid = entry.uid;
    }
    if (numericGid !== undefined) {
      gid = numericGid;
    } else {
      const entry = groups?.find((e) => e.name === g);
      if (entry === undefined) throw noEntry(`group ${g}`, "/etc/group");
      gid = entry.gid;
    }
  } else {
    throw invalidArgument(`invalid user ${JSON.stringify(user)} in the image config: use user[:group]`);
  }

  // Supplementary groups: by name, looked up from the UID (root when USER is empty).
  const name = user === "" ? "root" : passwd?.find((p) => p.uid === uid)?.name;
  const additionalGids =
    name === undefined || groups === undefined
      ? []
      : groups.filter((g) => g.name !== name && g.members.includes(name)).map((g) => g.gid);
  return { uid, gid, additionalGids };
}
