import assert from "node:assert/strict";
import { test } from "node:test";
import { ContainerState, PodSandboxState } from "@berth/api/cri/runtime/v1/api";
import {
  containerStateName,
  createdAgo,
  criTable,
  humanDuration,
  humanSize,
  parseLabels,
  podStateName,
  rfc3339Nano,
  truncateId,
} from "./format.js";

test("crictl's tables: columns at least 20 wide, 3 spaces after the widest cell, the last unpadded", () => {
  assert.equal(
    criTable(
      ["POD ID", "CREATED", "STATE"],
      [
        ["0123456789abc", "5 minutes ago", "Ready"],
        ["f", "About an hour ago", "NotReady"],
      ],
    ),
    [
      "POD ID              CREATED             STATE",
      "0123456789abc       5 minutes ago       Ready",
      "f                   About an hour ago   NotReady",
      "",
    ].join("\n"),
  );
  const wide = criTable(["NAME", "X"], [["a-name-longer-than-twenty", "1"]]);
  assert.equal(wide, "NAME                        X\na-name-longer-than-twenty   1\n");
  assert.equal(criTable(["A", "B"], []), "A                   B\n");
});

test("durations read like docker's: seconds, about a minute, hours, days", () => {
  assert.equal(humanDuration(400), "Less than a second");
  assert.equal(humanDuration(1_000), "1 second");
  assert.equal(humanDuration(59_999), "59 seconds");
  assert.equal(humanDuration(60_000), "About a minute");
  assert.equal(humanDuration(5 * 60_000 + 30_000), "5 minutes");
  assert.equal(humanDuration(59 * 60_000), "59 minutes");
  assert.equal(humanDuration(60 * 60_000), "About an hour");
  assert.equal(humanDuration(90 * 60_000), "2 hours", "hours are rounded");
  assert.equal(humanDuration(47 * 3_600_000), "47 hours");
  assert.equal(humanDuration(3 * 86_400_000), "3 days");
  assert.equal(humanDuration(20 * 86_400_000), "2 weeks");
  assert.equal(humanDuration(90 * 86_400_000), "3 months");
  assert.equal(humanDuration(800 * 86_400_000), "2 years");
});

test("created times are 'N … ago' from nanoseconds", () => {
  const now = Date.UTC(2024, 4, 1, 10, 0, 0);
  const fiveMinutesBefore = BigInt(now - 5 * 60_000) * 1_000_000n;
  assert.equal(createdAgo(fiveMinutesBefore, now), "5 minutes ago");
  assert.equal(createdAgo(BigInt(now) * 1_000_000n, now), "Less than a second ago");
});

test("sizes in powers of 1000 with docker's significant digits", () => {
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(999), "999B");
  assert.equal(humanSize(1000), "1kB");
  assert.equal(humanSize(4_194_304), "4.194MB");
  assert.equal(humanSize(4_194_304n, 3), "4.19MB");
  assert.equal(humanSize(1_500_000_000, 3), "1.5GB");
  assert.equal(humanSize(999_500, 3), "1e+03kB", "Go's %g switches to an exponent there too");
  assert.equal(humanSize(2n ** 64n), "18.45EB");
});

test("IDs are cut to 13 characters, after a prefix", () => {
  const hex = "4dd1c8b9a0e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1";
  assert.equal(truncateId(hex), "4dd1c8b9a0e5f");
  assert.equal(truncateId(`sha256:${hex}`, "sha256:"), "4dd1c8b9a0e5f");
  assert.equal(truncateId("short"), "short");
});

test("state names as crictl prints them in tables", () => {
  assert.equal(podStateName(PodSandboxState.SANDBOX_READY), "Ready");
  assert.equal(podStateName(PodSandboxState.SANDBOX_NOTREADY), "NotReady");
  assert.equal(containerStateName(ContainerState.CONTAINER_CREATED), "Created");
  assert.equal(containerStateName(ContainerState.CONTAINER_RUNNING), "Running");
  assert.equal(containerStateName(ContainerState.CONTAINER_EXITED), "Exited");
  assert.equal(containerStateName(ContainerState.CONTAINER_UNKNOWN), "Unknown");
});

test("RFC 3339 with nanoseconds, like Go's: zone offsets, trailing zeros dropped, zero time", () => {
  const ns = BigInt(Date.UTC(2024, 4, 1, 10, 0, 0)) * 1_000_000n + 120_000_500n;
  assert.equal(rfc3339Nano(ns, 0), "2024-05-01T10:00:00.1200005Z");
  assert.equal(rfc3339Nano(ns, 120), "2024-05-01T12:00:00.1200005+02:00");
  assert.equal(rfc3339Nano(ns, -330), "2024-05-01T04:30:00.1200005-05:30");
  assert.equal(rfc3339Nano(BigInt(Date.UTC(2024, 0, 1)) * 1_000_000n, 0), "2024-01-01T00:00:00Z");
  assert.equal(rfc3339Nano(0n), "0001-01-01T00:00:00Z");
});

test("--label takes KEY=VALUE, one = each", () => {
  assert.deepEqual(parseLabels(["app=web", "tier=front"]), { app: "web", tier: "front" });
  assert.deepEqual(parseLabels(undefined), {});
  assert.deepEqual(parseLabels(["a="]), { a: "" });
  assert.throws(() => parseLabels(["app"]), {
    name: "UsageError",
    message: '--label "app" is not KEY=VALUE: e.g. --label app=web',
  });
  assert.throws(() => parseLabels(["a=b=c"], "--annotation"), /--annotation "a=b=c" is not KEY=VALUE/);
});
