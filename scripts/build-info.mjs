// Writes build-info.json at the workspace root: Berth's version (the root package.json's)
// and the git commit the build comes from, with ".m" when tracked files were modified
// (containerd's convention). Every program reports these (--version, the Version RPC); an
// installed release has no .git, so the commit is recorded here at build time.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const { version } = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));

function git(...args) {
  return execFileSync("git", args, {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  }).trim();
}

let revision = process.env.BERTH_REVISION ?? "";
if (revision === "") {
  try {
    revision = git("rev-parse", "HEAD");
    if (git("status", "--porcelain", "--untracked-files=no") !== "") revision += ".m";
  } catch {
    revision = "unknown"; // not a git checkout, and no BERTH_REVISION given
  }
}

const file = new URL("build-info.json", root);
const text = `${JSON.stringify({ version, revision })}\n`;
let old = "";
try {
  old = readFileSync(file, "utf8");
} catch {}
if (old !== text) writeFileSync(file, text);
