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

const event = recordGetter({ namespace: "moby", topic: "/tasks/exit" });

test("regexps quoted with |…| and /…/, as Docker and ctr send them", () => {
  assert.equal(parseFilter("namespace==moby,topic~=|^/tasks/|").match(event), true);
  assert.equal(parseFilter("namespace==moby,topic~=|^/images/|").match(event), false);
  assert.equal(parseFilter("topic~=/^\\/tasks\\//").match(event), true);
  assert.equal(parseFilter("topic~=|a\\|b|").match(recordGetter({ topic: "a|b" })), true);
  assert.equal(parseFilter('topic~="^/tasks/(exit|oom)$"').match(event), true);
  assert.equal(parseFilter("topic~=(?i)^/TASKS/").match(event), true);
});

test("several filters are or-ed, selectors within one and-ed", () => {
  const f = parseFilters(['topic=="/tasks/oom"', 'namespace==moby,topic=="/tasks/exit"']);
  assert.equal(f.match(event), true);
  assert.equal(parseFilters(['topic=="/tasks/oom"', "namespace==other"]).match(event), false);
});

test("spaces between tokens, quoted fields and Go escapes", () => {
  assert.equal(parseFilter(" namespace == moby , topic ~= |exit$| ").match(event), true);
  assert.equal(parseFilter('"namespace"=="mo\\x62y"').match(event), true);
  assert.equal(parseFilter('namespace=="\\u006doby"').match(event), true);
  assert.equal(parseFilter('namespace=="\\155oby"').match(event), true);
  const tabbed = recordGetter({ name: 'a\t"b"' });
  assert.equal(parseFilter('name=="a\\t\\"b\\""').match(tabbed), true);
});

test("nested field paths and label keys with dots and slashes", () => {
  const c = recordGetter({ "runtime.name": "io.containerd.runc.v2", image: "busybox" }, { "a.b/c": "d" });
  assert.equal(parseFilter("runtime.name==io.containerd.runc.v2").match(c), true);
  assert.equal(parseFilter('labels."a.b/c"==d').match(c), true);
  assert.equal(parseFilter("labels.a.b==d").match(c), false, "an unquoted key is split at its dots");
  assert.throws(() => parseFilter("labels.a.b/c==d"), /position 10/, "an unquoted / starts a quoted string");
});

test("!= and ~= see an absent field as empty, as containerd does", () => {
  assert.equal(parseFilter("labels.none!=x").match(img), true);
  assert.equal(parseFilter('labels.none!=""').match(img), false);
  assert.equal(parseFilter("labels.none~=^$").match(img), true);
});

test("malformed filters say where and what was expected", () => {
  const cases: Array<[string, RegExp]> = [
    ["topic==|^/tasks/|", /quotes only a regular expression.*position 7/],
    ["topic~=|^/tasks/", /not terminated at position 7/],
    ["topic=x", /unsupported operator "=".*position 5/],
    ["topic==", /expected a value after == at position 7/],
    ["topic==a b", /unexpected "b", expected "," or the end at position 9/],
    [".topic", /expected a field name.*position 0/],
    ['topic=="\\q"', /unknown escape sequence/],
    ['topic=="\\x4"', /bad numeric escape/],
    ["topic~=(", /bad regular expression/],
    ["topic==a,", /expected a field name.*the end at position 9/],
    ["a\0b", /null/],
  ];
  for (const [bad, message] of cases) {
    assert.throws(
      () => parseFilter(bad),
      (err: { code?: number; message?: string }) => err.code === 3 && message.test(err.message ?? ""),
      bad,
    );
  }
});
