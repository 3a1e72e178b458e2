import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { resolveInRoot } from "./scoped-path.js";

test("links resolve inside the root, never out of it", async () => {
  const root = await mkdtemp(join(tmpdir(), "scoped-"));
  try {
    await mkdir(join(root, "etc"));
    await mkdir(join(root, "real"));
    await writeFile(join(root, "real", "passwd"), "x");
    await symlink("/etc/shadow", join(root, "etc", "shadow-link"));
    await symlink("../real/passwd", join(root, "etc", "passwd"));
    await symlink("/real", join(root, "lib"));
    await symlink("../../../../..", join(root, "up"));
    assert.equal(await resolveInRoot(root, "/etc/passwd"), join(root, "real", "passwd"));
    assert.equal(await resolveInRoot(root, "etc/shadow-link"), join(root, "etc", "shadow"));
    assert.equal(await resolveInRoot(root, "/lib/passwd"), join(root, "real", "passwd"));
    assert.equal(await resolveInRoot(root, "/up/etc/passwd"), join(root, "real", "passwd"));
    await symlink("loop", join(root, "loop"));
    await assert.rejects(resolveInRoot(root, "/loop"), /too many symbolic links/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
