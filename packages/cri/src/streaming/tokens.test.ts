import assert from "node:assert/strict";
import { test } from "node:test";
import { isKind } from "@berth/client";
import { TokenCache } from "./tokens.js";

test("a token gives its request back once", () => {
  const cache = new TokenCache<string>();
  const token = cache.insert("exec");
  assert.match(token, /^[A-Za-z0-9_-]{24}$/);
  assert.notEqual(cache.insert("exec"), token);
  assert.equal(cache.consume(token), "exec");
  assert.equal(cache.consume(token), undefined);
  assert.equal(cache.consume("unknown"), undefined);
});

test("an expired token is gone", () => {
  const cache = new TokenCache<string>({ ttlMs: 1000 });
  const token = cache.insert("attach", 0);
  assert.equal(cache.consume(token, 1000), undefined);
  const fresh = cache.insert("attach", 0);
  assert.equal(cache.consume(fresh, 999), "attach");
});

test("at most maxInFlight wait; expired ones make room", () => {
  const cache = new TokenCache<number>({ ttlMs: 1000, maxInFlight: 2 });
  cache.insert(1, 0);
  cache.insert(2, 500);
  assert.throws(
    () => cache.insert(3, 900),
    (e) => isKind(e, "ResourceExhausted"),
  );
  const third = cache.insert(3, 1200);
  assert.equal(cache.size, 2);
  assert.equal(cache.consume(third, 1300), 3);
});
