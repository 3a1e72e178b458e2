import assert from "node:assert/strict";
import { test } from "node:test";
import { type PodView, ShimPools, firstPoolWithRoom, parsePlacement, placementLabels } from "./shim-group.js";

/** berth-cri's pods and the daemon's sandbox records, as pool assignment sees them. */
class FakeSource {
  readonly pods = new Map<string, PodView>();
  /** Sandbox id → its record's labels. */
  readonly records = new Map<string, Record<string, string>>();
  reads = 0;

  view() {
    return {
      pods: () => [...this.pods.values()],
      readLabels: async (id: string) => {
        this.reads++;
        await new Promise((r) => setImmediate(r));
        return this.records.get(id);
      },
    };
  }

  /** What RunPodSandbox does around a claim: the record with its labels, then the pod. */
  async run(pools: ShimPools, id: string): Promise<number> {
    const claim = await pools.claim(id);
    await new Promise((r) => setImmediate(r));
    this.records.set(id, { app: "x", ...placementLabels(claim) });
    this.pods.set(id, { id, live: true });
    pools.shimStarted(id);
    pools.settle(id, true);
    return claim.pool;
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

test("placement labels", () => {
  const labels = placementLabels({ pool: 12, group: "abc" });
  assert.deepEqual(labels, { "io.berth.cri.shim-pool": "12", "io.berth.cri.shim-group": "abc" });
  assert.deepEqual(parsePlacement({ ...labels, other: "x" }), { pool: 12, group: "abc" });
  const bads: Array<Record<string, string> | undefined> = [
    undefined,
    {},
    { "io.berth.cri.shim-pool": "1" },
    { "io.berth.cri.shim-pool": "-1", "io.berth.cri.shim-group": "g" },
    { "io.berth.cri.shim-pool": "1.5", "io.berth.cri.shim-group": "g" },
    { "io.berth.cri.shim-pool": "99999999999999999999", "io.berth.cri.shim-group": "g" },
    { "io.berth.cri.shim-pool": "1", "io.berth.cri.shim-group": "" },
  ];
  for (const bad of bads) assert.equal(parsePlacement(bad), undefined, JSON.stringify(bad));
});

test("pods fill a pool before the next one is opened; a pool's group is its first pod's id", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  const got: number[] = [];
  for (let i = 0; i < 7; i++) got.push(await src.run(pools, `p${i}`));
  assert.deepEqual(got, [0, 0, 0, 1, 1, 1, 2]);
  assert.deepEqual(await pools.placementOf("p4"), { pool: 1, group: "p3" });
  assert.deepEqual(await pools.placementOf("p6"), { pool: 2, group: "p6" });
});

test("concurrent sandboxes see each other's claims", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  const got = await Promise.all(Array.from({ length: 8 }, (_, i) => src.run(pools, `p${i}`)));
  assert.deepEqual(
    [...got].sort((a, b) => a - b),
    [0, 0, 0, 1, 1, 1, 2, 2],
  );
  const groups = new Set(
    await Promise.all(got.map(async (_, i) => (await pools.placementOf(`p${i}`))?.group)),
  );
  assert.equal(groups.size, 3, "one group per pool");
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

test("room freed by removed or stopped pods is reused, first pool first, under a new group", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(2, src.view());
  for (const id of ["a", "b", "c", "d", "e"]) await src.run(pools, id);
  // pools: 0 = a b (group a), 1 = c d (group c), 2 = e (group e)
  src.remove("a");
  src.remove("b");
  assert.equal(await src.run(pools, "f"), 0, "a pool whose pods are all gone is reused");
  assert.deepEqual(await pools.placementOf("f"), { pool: 0, group: "f" }, "with a fresh group key");
  const c = src.pods.get("c");
  assert.ok(c);
  c.live = false; // stopped: no process left in its shim
  assert.equal(await src.run(pools, "g"), 0);
  assert.equal(await src.run(pools, "h"), 1);
  assert.deepEqual(await pools.placementOf("h"), { pool: 1, group: "c" }, "d still runs in group c");
  assert.equal(await src.run(pools, "i"), 2);
  assert.equal(await src.run(pools, "j"), 3);
  assert.deepEqual(await pools.placementOf("c"), { pool: 1, group: "c" }, "a stopped pod keeps its group");
});

test("after a restart the placements are read back from the sandbox records", async () => {
  const src = new FakeSource();
  const before = new ShimPools(3, src.view());
  for (let i = 0; i < 5; i++) await src.run(before, `p${i}`);
  src.pods.set("plain", { id: "plain", live: true }); // created under per-pod: no labels
  src.records.set("plain", { app: "x" });

  // A new berth-cri process: nothing cached, the same records.
  const after = new ShimPools(3, src.view());
  src.reads = 0;
  assert.deepEqual(await after.placementOf("p3"), { pool: 1, group: "p3" });
  assert.equal(await after.placementOf("plain"), undefined);
  assert.deepEqual(
    await after.claim("p5"),
    { pool: 1, group: "p3", opens: false },
    "pool 1 holds p3 and p4: one place left",
  );
  assert.equal(src.reads, 6, "each record is read once");
  after.settle("p5", false);
  assert.equal((await after.claim("p6")).pool, 1);
  assert.equal(src.reads, 6);
});

test("a pool's first sandbox starts its shim before the pool's other tasks are created", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  const claims = [];
  for (const id of ["a", "b", "c", "d"]) claims.push(await pools.claim(id));
  assert.deepEqual(claims, [
    { pool: 0, group: "a", opens: true },
    { pool: 0, group: "a", opens: false },
    { pool: 0, group: "a", opens: false },
    { pool: 1, group: "d", opens: true },
  ]);
  let bReady = false;
  const waiting = pools.shimReady("a").then(() => {
    bReady = true;
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(bReady, false, "b waits while a starts group a's shim");
  pools.shimStarted("b"); // not the opener: no effect
  await new Promise((r) => setImmediate(r));
  assert.equal(bReady, false);
  pools.shimStarted("a");
  await waiting;
  assert.equal(bReady, true);
  await pools.shimReady("a");
});

test("a failed opener lets the pool's other sandboxes go on", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(3, src.view());
  await pools.claim("a");
  await pools.claim("b");
  const ready = pools.shimReady("a");
  pools.settle("a", false);
  await ready;
  assert.deepEqual(await pools.claim("c"), { pool: 0, group: "a", opens: false }, "b holds pool 0");
});

test("unpooled sandboxes need no read", async () => {
  const src = new FakeSource();
  const pools = new ShimPools(8, src.view());
  pools.markUnpooled("x");
  assert.equal(await pools.placementOf("x"), undefined);
  assert.equal(src.reads, 0);
});
