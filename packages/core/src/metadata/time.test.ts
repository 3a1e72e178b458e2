import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Info } from "@berth/api/containerd/services/content/v1/content";
import { Timestamp } from "@berth/api/google/protobuf/timestamp";
import { type PreciseDate, formatNanos, fromStored, nowNanos, nowStored, toStored } from "./time.js";

describe("record times", () => {
  it("keep nanoseconds from the clock through a record and back", () => {
    const a = nowNanos();
    const b = nowNanos();
    assert.ok(b > a, "the clock never repeats");
    const stored = nowStored();
    assert.match(stored, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    assert.equal(toStored(fromStored(stored)), stored);
  });

  it("read records stored in milliseconds by earlier versions", () => {
    const date = fromStored(1_700_000_000_123);
    assert.equal(date.toISOString(), "2023-11-14T22:13:20.123Z");
    assert.equal(toStored(date), "2023-11-14T22:13:20.123000000Z");
  });

  it("read RFC 3339 with fewer digits or an offset", () => {
    assert.equal(toStored(fromStored("2026-12-02T19:50:00.5Z")), "2026-12-02T19:50:00.500000000Z");
    assert.equal(toStored(fromStored("2026-12-02T19:50:00Z")), "2026-12-02T19:50:00.000000000Z");
    assert.equal(
      toStored(fromStored("2026-12-02T20:50:00.000000001+01:00")),
      "2026-12-02T19:50:00.000000001Z",
    );
  });

  it("cross the wire as protobuf Timestamps with their nanoseconds", () => {
    const createdAt = fromStored(formatNanos(1_796_240_636_458_123_456n));
    const bytes = Info.encode(Info.fromPartial({ digest: "sha256:x", createdAt })).finish();
    const decoded = Info.decode(bytes);
    assert.equal(toStored(decoded.createdAt as PreciseDate), toStored(createdAt));
    assert.deepEqual(Timestamp.decode(Timestamp.encode({ seconds: 1, nanos: 2 }).finish()), {
      seconds: 1,
      nanos: 2,
    });
  });
});
