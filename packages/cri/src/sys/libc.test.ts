import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IFF_UP, IFREQ_SIZE, ifreq, ifreqFlags, setIfreqFlags } from "./libc.js";

describe("ifreq", () => {
  it("is struct ifreq: a NUL-terminated name in 16 bytes, then ifr_flags as a short, 40 bytes in all", () => {
    const req = ifreq("lo");
    assert.equal(req.length, IFREQ_SIZE);
    assert.deepEqual([...req.subarray(0, 3)], [0x6c, 0x6f, 0]);
    assert.equal(ifreqFlags(req), 0);
    // What SIOCGIFFLAGS returns for a down loopback: IFF_LOOPBACK (0x8).
    req.writeUInt16LE(0x8, 16);
    setIfreqFlags(req, ifreqFlags(req) | IFF_UP);
    assert.deepEqual([...req.subarray(16, 18)], [0x09, 0x00]);
    assert.ok(req.subarray(18).every((b) => b === 0));
    assert.ok(req.subarray(3, 16).every((b) => b === 0));
  });

  it("refuses a name that does not fit IFNAMSIZ with its NUL", () => {
    assert.throws(() => ifreq("a-very-long-name"), /too long/);
    assert.equal(ifreq("fifteen-chars-x").length, IFREQ_SIZE);
  });
});
