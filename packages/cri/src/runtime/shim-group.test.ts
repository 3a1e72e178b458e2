import assert from "node:assert/strict";
import { test } from "node:test";
import { type PodView, ShimPools, firstPoolWithRoom, parsePoolLabel, poolGroupKey } from "./shim-group.js";

/** berth-cri's pods and the daemon's sandbox records, as pool assignment sees them. */
class FakeSource {
  readonly pods = new Map<string, PodView>();
  /** Sandbox id → its record's labels. */
  readonly records = new Map<string, Record<string, string>>();
  reads = 0;

  view() {
    return {
      pods: () => [...this.pods.values()],
      readPoolLabel: async (id: string) => {
        this.reads++;
        await new Promise((r) => setImmediate(r));
        return this.records.get(id)?.["io.berth.cri.shim-pool"];
      },
    };
  }

  /** What RunPodSandbox does around a claim: the record with its label, then the pod. */
  async run(pools: ShimPools, id: string): Promise<number> {
    const { pool } = await pools.claim(id);
    await new Promise((r) => setImmediate(r));
    this.records.set(id, { "io.berth.cri.shim-pool": String(pool) });
    this.pods.set(id, { id, live: true });
    pools.settle(id, true);
    return pool;
  }

  remove(id: string): void {
    this.pods.delete(id);
    this.records.delete(id);
  }
}

test("the first pool with room", () => {
  assert.equal(firstPoolWithRoom([], 3), 0);
  assert.equal(firstPoolWithRoom([0, 0], 3), 0);
  assert.equal(firstPoolWithRoom([0, 0, 0], 3), 1);
  assert.equal(firstPoolWithRoom([0, 0, 0, 2], 3), 1);
  assert.equal(firstPoolWithRoom([1, 1, 1], 3), 0, "an empty pool is reused");
  assert.equal(firstPoolWithRoom([0, 1], 1), 2);
});

test("pool labels and group keys", () => {
  assert.equal(parsePoolLabel("0"), 0);
  assert.equal(parsePoolLabel("12"), 12);
  for (const bad of [undefined, "", "-1", "1.5", "x", "99999999999999999999"])
    assert.equal(parsePoolLabel(bad), undefined);
  assert.equal(poolGroupKey(3), "berth-cri-pool-3");
});

test("pods fill a pool before the next one is opened", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  const got: number[] = [];
  for (let i = 0; i < 7; i++) got.push(await src.run(pools, `p${i}`));
  assert.deepEqual(got, [0, 0, 0, 1, 1, 1, 2]);
  assert.equal(await pools.poolOf("p4"), 1);
});

test("concurrent sandboxes see each other's claims", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  const got = await Promise.all(Array.from({ length: 8 }, (_, i) => src.run(pools, `p${i}`)));
  assert.deepEqual(
    [...got].sort((a, b) => a - b),
    [0, 0, 0, 1, 1, 1, 2, 2],
  );
});

test("a failed sandbox gives its place back", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(2, src.view());
  await src.run(pools, "a");
  assert.equal((await pools.claim("b")).pool, 0);
  pools.settle("b", false);
  assert.equal(await src.run(pools, "c"), 0);
  assert.equal(await src.run(pools, "d"), 1);
});

test("room freed by removed or stopped pods is reused, first pool first", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(2, src.view());
  for (const id of ["a", "b", "c", "d", "e"]) await src.run(pools, id);
  // pools: 0 = a b, 1 = c d, 2 = e
  src.remove("a");
  src.remove("b");
  assert.equal(await src.run(pools, "f"), 0, "a pool whose pods are all gone is reused");
  const c = src.pods.get("c");
  assert.ok(c);
  c.live = false; // stopped: no process left in its shim
  assert.equal(await src.run(pools, "g"), 0);
  assert.equal(await src.run(pools, "h"), 1);
  assert.equal(await src.run(pools, "i"), 2);
  assert.equal(await src.run(pools, "j"), 3);
  assert.equal(await pools.poolOf("c"), 1, "a stopped pod's containers still belong to its pool");
});

test("after a restart the pools are read back from the sandbox records", async () => {
  const src = new FakeSource();
  const before = new ShimPools(3, src.view());
  for (let i = 0; i < 5; i++) await src.run(before, `p${i}`);
  src.pods.set("plain", { id: "plain", live: true }); // created under per-pod: no label
  src.records.set("plain", {});

  // A new berth-cri process: nothing cached, the same records.
  const after = new ShimPools(3, src.view());
  src.reads = 0;
  assert.equal(await after.poolOf("p3"), 1);
  assert.equal(await after.poolOf("plain"), undefined);
  assert.equal((await after.claim("p5")).pool, 1, "pool 1 holds p3 and p4: one place left");
  assert.equal(src.reads, 6, "each record is read once");
  after.settle("p5", false);
  assert.equal((await after.claim("p6")).pool, 1);
  assert.equal(src.reads, 6);
});

test("a pool's first sandbox starts its shim before the pool's other tasks are created", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  const a = await pools.claim("a");
  const b = await pools.claim("b");
  const c = await pools.claim("c");
  const d = await pools.claim("d");
  assert.deepEqual(
    [a, b, c, d],
    [
      { pool: 0, opens: true },
      { pool: 0, opens: false },
      { pool: 0, opens: false },
      { pool: 1, opens: true },
    ],
  );
  let bReady = false;
  const waiting = pools.shimReady(0).then(() => {
    bReady = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(bReady, false, "b waits while a starts pool 0's shim");
  pools.shimStarted("b"); // not the opener: no effect
  await new Promise((r) => setImmediate(r));
  assert.equal(bReady, false);
  pools.shimStarted("a");
  await waiting;
  assert.equal(bReady, true);
  await pools.shimReady(0);
});

test("a failed opener lets the pool's other sandboxes go on", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  await pools.claim("a");
  await pools.claim("b");
  const ready = pools.shimReady(0);
  pools.settle("a", false);
  await ready;
  const c = await pools.claim("c");
  assert.deepEqual(c, { pool: 0, opens: false }, "b holds pool 0 now");
});

test("a pool emptied and reused is opened again", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(2, src.view());
  await src.run(pools, "a");
  src.remove("a");
  assert.deepEqual(await pools.claim("b"), { pool: 0, opens: true });
});

test("unpooled sandboxes need no read", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(8, src.view());
  pools.markUnpooled("x");
  assert.equal(await pools.poolOf("x"), undefined);
  assert.equal(src.reads, 0);
});
