import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { OomWatcher, parseOomKills } from "./oom.js";

describe("OOM watcher", () => {
  it("reads the oom_kill counter", () => {
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 3);
    assert.equal(parseOomKills("oom_kill_disable 0\nunder_oom 0\n"), 0);
  });

  it("reports a container once per increase of its counter", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-oom-"));
    try {
      const file = join(dir, "memory.oom_control");
      writeFileSync(file, "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
      const seen: string[] = [];
      const w = new OomWatcher((id) => seen.push(id), 60_000);
      await w.add("c1", dir);
      await w.poll();
      assert.deepEqual(seen, []);
      writeFileSync(file, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
      await w.poll();
      await w.poll();
      writeFileSync(file, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
      await w.remove("c1");
      assert.deepEqual(seen, ["c1", "c1"]);
      w.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
