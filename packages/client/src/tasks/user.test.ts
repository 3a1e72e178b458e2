import assert from "node:assert/strict";
import { test } from "node:test";
import { parseGroup, parsePasswd, resolveUser } from "./user.js";

const passwd = [
  "root:x:0:0:root:/root:/bin/sh",
  "# comment",
  "www:x:33:33::/var/www:/bin/false",
  "app:x:1000:1001::/home/app:/bin/sh",
].join("\n");
const group = ["root:x:0:", "wheel:x:10:root,app", "www:x:33:", "app:x:1001:", "docker:x:999:app"].join("\n");
const files = { passwd, group };

test("account files parse, skipping comments and broken lines", () => {
  assert.deepEqual(parsePasswd(`${passwd}\nbroken:x:nope:0`), [
    { name: "root", uid: 0, gid: 0 },
    { name: "www", uid: 33, gid: 33 },
    { name: "app", uid: 1000, gid: 1001 },
  ]);
  assert.deepEqual(parseGroup(group)[1], { name: "wheel", gid: 10, members: ["root", "app"] });
});

test("no USER: root, with the groups root is a member of", () => {
  assert.deepEqual(resolveUser("", files), { uid: 0, gid: 0, additionalGids: [10] });
  assert.deepEqual(resolveUser("", { passwd: undefined, group: undefined }), {
    uid: 0,
    gid: 0,
    additionalGids: [],
  });
});

test("a name is looked up; a number need not be", () => {
  assert.deepEqual(resolveUser("app", files), { uid: 1000, gid: 1001, additionalGids: [10, 999] });
  assert.deepEqual(resolveUser("33", files), { uid: 33, gid: 33, additionalGids: [] });
  assert.deepEqual(resolveUser("4242", files), { uid: 4242, gid: 0, additionalGids: [] });
  assert.deepEqual(resolveUser("4242", { passwd: undefined, group: undefined }), {
    uid: 4242,
    gid: 0,
    additionalGids: [],
  });
  assert.throws(() => resolveUser("nobody", files), /no user nobody in the image's \/etc\/passwd/);
});

test("user:group in any mix of names and numbers", () => {
  assert.deepEqual(resolveUser("1000:1000", files), { uid: 1000, gid: 1000, additionalGids: [10, 999] });
  assert.deepEqual(resolveUser("app:docker", files), { uid: 1000, gid: 999, additionalGids: [10, 999] });
  assert.deepEqual(resolveUser("5:www", files), { uid: 5, gid: 33, additionalGids: [] });
  assert.throws(() => resolveUser("app:nogroup", files), /no group nogroup in the image's \/etc\/group/);
  assert.throws(() => resolveUser("a:b:c", files), /invalid user/);
});
