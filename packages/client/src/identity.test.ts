import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "./errdefs.js";
import { chainId, chainIds, sha256Digest } from "./identity.js";

// Diff IDs of a three-layer image and the chain IDs containerd 1.6 committed for it.
const diffIds = [
  "sha256:fce9713ce05e73af46653837c568dd373b2e35825b7d5b014fe7f6b5a9dae712",
  "sha256:359e79c0511283635ba8604d2ab61144c306cc3bf24ea2e4e2413e6650dc5336",
  "sha256:1107752a181aef4dcc9ebc5d340bc0b54b3efa46a1790d0779337c3cd0639cc1",
];
const containerdChain = [
  "sha256:fce9713ce05e73af46653837c568dd373b2e35825b7d5b014fe7f6b5a9dae712",
  "sha256:8d045578c6f67052ac6972661806d24e3d331dc001a412bd16f0188051a5d545",
  "sha256:88e178784efeb5d1d35dcf8204acb672f2dc45bf06e9a805ead625c35dbccd95",
];

test("chain IDs match containerd's snapshot names", () => {
  assert.deepEqual(chainIds(diffIds), containerdChain);
  assert.equal(chainId(diffIds), containerdChain[2]);
});

test("the chain ID of one layer is its diff ID", () => {
  assert.equal(chainId(diffIds.slice(0, 1)), diffIds[0]);
});

test("chain(n) = sha256(chain(n-1) + ' ' + diffID(n))", () => {
  assert.equal(chainIds(diffIds)[1], sha256Digest(`${diffIds[0]} ${diffIds[1]}`));
});

test("no layers and malformed diff IDs are rejected", () => {
  assert.deepEqual(chainIds([]), []);
  assert.throws(
    () => chainId([]),
    (err: unknown) => isKind(err, "InvalidArgument"),
  );
  assert.throws(
    () => chainIds(["sha256:abc"]),
    (err: unknown) => isKind(err, "InvalidArgument"),
  );
});
