import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";

async function titled(name: string, args: string[]): Promise<{ cmdline: string; comm: string }> {
  const module = new URL("./process-title.js", import.meta.url).href;
  const script = `import(${JSON.stringify(module)}).then((m) => {
    m.setProcessTitle(process.argv[1], process.argv.slice(2));
    process.stdout.write("set\\n");
    setTimeout(() => {}, 10000);
  });`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script, name, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`exited with ${code} before setting its title`)));
    });
    return {
      cmdline: readFileSync(`/proc/${child.pid}/cmdline`, "utf8").replace(/\0+$/, ""),
      comm: readFileSync(`/proc/${child.pid}/comm`, "utf8").trim(),
    };
  } finally {
    child.kill("SIGKILL");
  }
}

test("setProcessTitle: ps's args show name and arguments, comm only the name", async () => {
  // The comm is not the title's first 15 characters ("berthd --config").
  assert.deepEqual(await titled("berthd", ["--config", "/etc/berth/berthd.yaml"]), {
    cmdline: "berthd --config /etc/berth/berthd.yaml",
    comm: "berthd",
  });
});

test("setProcessTitle: a name longer than 15 characters is cut in comm, as Linux does", async () => {
  assert.deepEqual(await titled("containerd-shim-berth-v2", ["-namespace", "default", "-id", "abc"]), {
    cmdline: "containerd-shim-berth-v2 -namespace default -id abc",
    comm: "containerd-shim",
  });
});
