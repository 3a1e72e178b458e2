import assert from "node:assert/strict";
import { test } from "node:test";
import { type OptionsConfig, parseLeadingOptions, splitLeadingOptions } from "./command.js";

const options: OptionsConfig = {
  rm: { type: "boolean" },
  tty: { type: "boolean", short: "t" },
  detach: { type: "boolean", short: "d" },
  env: { type: "string", multiple: true },
  signal: { type: "string", short: "s" },
};

test("options end at the first argument; what follows is left alone", () => {
  assert.deepEqual(splitLeadingOptions(["--rm", "img", "id", "sh", "-c", "exit 3"], options), {
    head: ["--rm"],
    rest: ["img", "id", "sh", "-c", "exit 3"],
  });
  assert.deepEqual(splitLeadingOptions(["--env", "A=1", "--env=B=2", "img"], options).head, [
    "--env",
    "A=1",
    "--env=B=2",
  ]);
  assert.deepEqual(splitLeadingOptions(["-td", "-s", "KILL", "x", "--rm"], options), {
    head: ["-td", "-s", "KILL"],
    rest: ["x", "--rm"],
  });
  assert.deepEqual(splitLeadingOptions(["-tsKILL", "x"], options).head, ["-tsKILL"]);
  assert.deepEqual(splitLeadingOptions(["--rm", "--", "--img"], options), {
    head: ["--rm"],
    rest: ["--img"],
  });
  assert.deepEqual(splitLeadingOptions(["-", "x"], options), { head: [], rest: ["-", "x"] });
});

test("parseLeadingOptions parses the options and passes the rest through", () => {
  const { values, positionals } = parseLeadingOptions(
    ["-t", "--env", "A=1", "img", "id", "ls", "-l"],
    options,
    "run",
  );
  assert.equal(values.tty, true);
  assert.deepEqual(values.env, ["A=1"]);
  assert.deepEqual(positionals, ["img", "id", "ls", "-l"]);
  assert.throws(() => parseLeadingOptions(["--bogus", "img"], options, "run"), {
    name: "UsageError",
    message: "unknown option '--bogus': see 'berthctl run --help'",
  });
});
