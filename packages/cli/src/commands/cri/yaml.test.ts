import assert from "node:assert/strict";
import { test } from "node:test";
import { parseYaml, plainScalar } from "./yaml.js";

test("block mappings and sequences, nested, with comments", () => {
  const doc = parseYaml(`# a pod
metadata:
  name: web   # the pod's name
  namespace: default
  attempt: 1
log_directory: /tmp/pods/web
port_mappings:
  - protocol: 0
    container_port: 80
    host_port: 8080
  - container_port: 443
dns_config:
  servers:
  - 10.0.0.10
  options: [ndots:5]
linux: {}
`);
  assert.deepEqual(doc, {
    metadata: { name: "web", namespace: "default", attempt: 1 },
    log_directory: "/tmp/pods/web",
    port_mappings: [{ protocol: 0, container_port: 80, host_port: 8080 }, { container_port: 443 }],
    dns_config: { servers: ["10.0.0.10"], options: ["ndots:5"] },
    linux: {},
  });
});

test("scalars: quoting, escapes, the core schema, big integers", () => {
  assert.deepEqual(
    parseYaml(
      [
        "a: 'it''s # not a comment'",
        'b: "tab\\there \\u00e9 \\"q\\""',
        "c: true",
        "d: ~",
        "e:",
        "f: -12",
        "g: 1.5e3",
        "h: 9223372036854775807",
        "i: http://example.com:8080/x",
        "j: '007'",
        "k: 0x1F",
        "l: it's fine",
        "'quoted key': 1",
      ].join("\n"),
    ),
    {
      a: "it's # not a comment",
      b: 'tab\there é "q"',
      c: true,
      d: null,
      e: null,
      f: -12,
      g: 1500,
      h: 9223372036854775807n,
      i: "http://example.com:8080/x",
      j: "007",
      k: 31,
      l: "it's fine",
      "quoted key": 1,
    },
  );
  assert.equal(plainScalar("False"), false);
  assert.equal(plainScalar("1.0.0"), "1.0.0");
});

test("flow collections across lines, and JSON as YAML", () => {
  assert.deepEqual(
    parseYaml('command: ["sh", "-c",\n  "echo hi; sleep 1"]\nenvs: [{key: A, value: "1"}, {key: B, }]'),
    {
      command: ["sh", "-c", "echo hi; sleep 1"],
      envs: [{ key: "A", value: "1" }, { key: "B" }],
    },
  );
  assert.deepEqual(parseYaml('{\n  "metadata": {"name": "x"},\n  "args": [1, 2.5, true, null]\n}\n'), {
    metadata: { name: "x" },
    args: [1, 2.5, true, null],
  });
});

test("sequences of sequences, items on the key's column, empty items", () => {
  assert.deepEqual(parseYaml("a:\n- - 1\n  - 2\n- -\n-\nb: x"), { a: [[1, 2], [null], null], b: "x" });
});

test("block scalars as list items, indented from the list", () => {
  assert.deepEqual(
    parseYaml("args:\n  - |\n    trap 'exit 0' TERM\n    echo $((1+1))\n  - >-\n    a\n    b\nenvs: []\n"),
    {
      args: ["trap 'exit 0' TERM\necho $((1+1))\n", "a b"],
      envs: [],
    },
  );
});

test("block scalars: literal and folded, with chomping", () => {
  const doc = parseYaml(
    "a: |\n  line 1\n  line 2\n\nb: >-\n  folded\n  text\n\n  para\nc: |+\n  kept\n\nd: x\n",
  );
  assert.deepEqual(doc, { a: "line 1\nline 2\n", b: "folded text\npara", c: "kept\n\n", d: "x" });
});

test("a document marker is allowed; what is not supported says so with its line", () => {
  assert.deepEqual(parseYaml("---\na: 1\n"), { a: 1 });
  assert.equal(parseYaml(""), null);
  assert.throws(
    () => parseYaml("a: &x 1\nb: *x"),
    /^YamlError: line 1: anchors, aliases and tags are not supported/,
  );
  assert.throws(() => parseYaml("a: 1\n---\nb: 2"), /line 3: only one YAML document per file is supported/);
  assert.throws(() => parseYaml("a: 1\n  b: 2"), /line 2: unexpected indentation/);
  assert.throws(() => parseYaml("a: 1\na: 2"), /line 2: duplicate key "a"/);
  assert.throws(() => parseYaml('a: "open'), /line 1: unterminated quoted string or flow collection/);
  assert.throws(() => parseYaml("a:\n\tb: 1"), /line 2: tabs cannot indent YAML/);
  assert.throws(() => parseYaml("a: [1, 2"), /unterminated/);
});
