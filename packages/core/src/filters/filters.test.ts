import assert from "node:assert/strict";
import { test } from "node:test";
import { parseFilter, parseFilters, recordGetter } from "./filters.js";

const img = recordGetter(
  { name: "docker.io/library/busybox:latest", "target.digest": "sha256:ab" },
  {
    "io.example/key": "v1",
    plain: "x",
  },
);

test("equality, inequality, presence and regexp selectors", () => {
  assert.equal(parseFilter("name==docker.io/library/busybox:latest").match(img), true);
  assert.equal(parseFilter("name!=docker.io/library/busybox:latest").match(img), false);
  assert.equal(parseFilter("name~=busybox").match(img), true);
  assert.equal(parseFilter("name~=^alpine").match(img), false);
  assert.equal(parseFilter("labels.plain").match(img), true);
  assert.equal(parseFilter("labels.absent").match(img), false);
});

test("quoted label keys and values, AND within a filter, OR across filters", () => {
  assert.equal(parseFilter('labels."io.example/key"==v1').match(img), true);
  assert.equal(parseFilter('labels."io.example/key"=="v1",name~=busybox').match(img), true);
  assert.equal(parseFilter('labels."io.example/key"==v1,name~=alpine').match(img), false);
  assert.equal(parseFilters(["name~=alpine", "labels.plain==x"]).match(img), true);
  assert.equal(parseFilters([]).match(img), true);
});

test("bad filters are InvalidArgument", () => {
  for (const bad of ["name=x", "name==", "name~=(", '"unterminated', "==x", "a,,b"]) {
    assert.throws(
      () => parseFilter(bad),
      (err: { code?: number }) => err.code === 3,
      bad,
    );
  }
});
