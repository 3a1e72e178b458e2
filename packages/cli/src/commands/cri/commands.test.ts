// The pieces of the cri commands that need no runtime: rows, filters and option values.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ContainerState, ContainerStats, Image, PodSandboxState } from "@berth/api/cri/runtime/v1/api";
import { imageRows } from "./images.js";
import { joinTailAll, parseSince, previousLogPath } from "./logs.js";
import { podStateFilter } from "./pods.js";
import { containerStateFilter, shortImage } from "./ps.js";
import { pullAuth } from "./pull.js";
import { newestFirst, patternTest } from "./selection.js";
import { cpuPercent, statsRow } from "./stats.js";

const HEX = "4dd1c8b9a0e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1";

test("image rows: one per tag, repository and digest from the first repo digest", () => {
  const image = Image.fromPartial({
    id: `sha256:${HEX}`,
    repoTags: ["127.0.0.1:5000/berth/cri:v1", "127.0.0.1:5000/berth/cri:latest"],
    repoDigests: [`127.0.0.1:5000/berth/cri@sha256:${HEX}`],
    size: 4_194_304n,
  });
  assert.deepEqual(imageRows(image, false), [
    ["127.0.0.1:5000/berth/cri", "v1", "4dd1c8b9a0e5f", "4dd1c8b9a0e5f", "4.19MB"],
    ["127.0.0.1:5000/berth/cri", "latest", "4dd1c8b9a0e5f", "4dd1c8b9a0e5f", "4.19MB"],
  ]);
  const byDigest = Image.fromPartial({
    id: `sha256:${HEX}`,
    repoDigests: [`docker.io/library/busybox@sha256:${HEX}`],
    size: 1000n,
  });
  assert.deepEqual(imageRows(byDigest, true), [
    ["docker.io/library/busybox", "<none>", `sha256:${HEX}`, `sha256:${HEX}`, "1kB"],
  ]);
  assert.deepEqual(imageRows(Image.fromPartial({ id: "x" }), false), [
    ["<none>", "<none>", "<none>", "x", "0B"],
  ]);
});

test("ps shows image IDs short, references whole", () => {
  assert.equal(shortImage(`sha256:${HEX}`), "4dd1c8b9a0e5f");
  assert.equal(shortImage("busybox:latest"), "busybox:latest");
  assert.equal(shortImage("127.0.0.1:5000/x:v1"), "127.0.0.1:5000/x:v1");
});

test("--state values, in any case", () => {
  assert.equal(podStateFilter("Ready"), PodSandboxState.SANDBOX_READY);
  assert.equal(podStateFilter("notready"), PodSandboxState.SANDBOX_NOTREADY);
  assert.equal(podStateFilter(undefined), undefined);
  assert.throws(
    () => podStateFilter("gone"),
    /unknown pod state "gone": use --state ready or --state notready/,
  );
  assert.equal(containerStateFilter("EXITED"), ContainerState.CONTAINER_EXITED);
  assert.throws(() => containerStateFilter("x"), /use --state created, running, exited or unknown/);
});

test("newest first, --latest and --last; name patterns are regular expressions", () => {
  const items = [{ createdAt: 1n }, { createdAt: 3n }, { createdAt: 2n }];
  assert.deepEqual(
    newestFirst(items, false, 0).map((i) => i.createdAt),
    [3n, 2n, 1n],
  );
  assert.deepEqual(
    newestFirst(items, true, 0).map((i) => i.createdAt),
    [3n],
  );
  assert.deepEqual(
    newestFirst(items, false, 2).map((i) => i.createdAt),
    [3n, 2n],
  );
  assert.equal(patternTest("^we", "--name")("web"), true);
  assert.equal(patternTest("^we", "--name")("a-web"), false);
  assert.equal(patternTest(undefined, "--name")("anything"), true);
  assert.throws(() => patternTest("(", "--name"), /--name "\(" is not a regular expression/);
});

test("CPU % between two samples; rows of containers that use nothing are left out", () => {
  const sample = (t: bigint, cpu: bigint) => ({
    timestamp: t,
    usageCoreNanoSeconds: { value: cpu },
    usageNanoCores: undefined,
  });
  assert.equal(cpuPercent(sample(0n, 0n), sample(1_000_000_000n, 250_000_000n)), "25.00");
  assert.equal(cpuPercent(sample(5n, 10n), sample(5n, 20n)), "-", "the runtime's sample did not move");
  assert.equal(cpuPercent(undefined, sample(1n, 0n)), "0.00");
  const stats = (cpu: bigint, mem: bigint) =>
    ContainerStats.fromPartial({
      attributes: { id: HEX, metadata: { name: "web" } },
      cpu: { timestamp: 2_000_000_000n, usageCoreNanoSeconds: { value: cpu } },
      memory: { workingSetBytes: { value: mem } },
      writableLayer: { usedBytes: { value: 8192n }, inodesUsed: { value: 3n } },
    });
  const before = ContainerStats.fromPartial({
    cpu: { timestamp: 1_000_000_000n, usageCoreNanoSeconds: { value: 0n } },
  });
  assert.deepEqual(statsRow(stats(500_000_000n, 2_000_000n), before, false), [
    "4dd1c8b9a0e5f",
    "web",
    "50.00",
    "2MB",
    "8.192kB",
    "3",
  ]);
  assert.equal(statsRow(stats(0n, 0n), before, false), undefined);
  assert.ok(statsRow(stats(0n, 0n), before, true));
  assert.equal(statsRow(stats(1n, 1n), undefined, true), undefined, "not in the first sample");
});

test("--creds and --auth", () => {
  assert.equal(pullAuth(undefined, undefined), undefined);
  assert.deepEqual(
    { ...pullAuth("me:s3:cret", undefined) },
    {
      username: "me",
      password: "s3:cret",
      auth: "",
      serverAddress: "",
      identityToken: "",
      registryToken: "",
    },
  );
  assert.equal(pullAuth("me", undefined)?.password, "");
  assert.equal(pullAuth(undefined, "bWU6eA==")?.auth, "bWU6eA==");
  assert.throws(() => pullAuth(":x", undefined), /--creds needs a user name/);
  assert.throws(() => pullAuth("a:b", "x"), /--creds and --auth cannot be used together/);
});

test("--since: durations back from now, Unix seconds, dates", () => {
  const now = Date.UTC(2024, 4, 1, 10);
  const nowNs = BigInt(now) * 1_000_000n;
  assert.equal(parseSince("10m", now), nowNs - 600_000_000_000n);
  assert.equal(parseSince("1h30m", now), nowNs - 5_400_000_000_000n);
  assert.equal(parseSince("1714557600", now), nowNs);
  assert.equal(parseSince("2024-05-01T10:00:00Z", now), nowNs);
  assert.throws(() => parseSince("whenever", now), /--since "whenever" is neither a duration nor a time/);
});

test("crictl's --tail -1 means all lines", () => {
  assert.deepEqual(joinTailAll(["--tail", "-1", "c1"]), ["--tail=-1", "c1"]);
  assert.deepEqual(joinTailAll(["--tail", "5", "c1"]), ["--tail", "5", "c1"]);
});

test("--previous reads the log of the attempt before", () => {
  assert.equal(previousLogPath("/var/log/pods/p/web/2.log", 2), "/var/log/pods/p/web/1.log");
  assert.equal(previousLogPath("/logs/web_1", 1), "/logs/0");
});
