import assert from "node:assert/strict";
import { test } from "node:test";
import { Limiter, eachLimited } from "./limiter.js";

test("a limiter never runs more than its limit at once, and runs everything", async () => {
  const limiter = new Limiter(3);
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        done.push(i);
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.equal(done.length, 10);
});

test("eachLimited goes on past a failure and reports each outcome", async () => {
  const seen: number[] = [];
  const results = await eachLimited([1, 2, 3, 4], 2, async (n) => {
    seen.push(n);
    if (n === 2) throw new Error("two");
  });
  assert.deepEqual(seen.sort(), [1, 2, 3, 4]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["fulfilled", "rejected", "fulfilled", "fulfilled"],
  );
});
