import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isKind } from "../errdefs.js";
import { imageUser, parseGroup, parsePasswd, securityContextUser, userDatabase } from "./user.js";

const passwd = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
broken line
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const group = `root:x:0:
wheel:x:10:root,app
www-data:x:33:
app:x:1000:app
audio:x:29:app, www-data
nogroup:x:65534:
`;
const db = userDatabase(passwd, group);
const invalid = (err: unknown) => isKind(err, "InvalidArgument");

test("parsePasswd reads entries and skips comments and malformed lines", () => {
  const users = parsePasswd(passwd);
  assert.deepEqual(
    users.map((u) => [u.name, u.uid, u.gid]),
    [
      ["root", 0, 0],
      ["daemon", 1, 1],
      ["www-data", 33, 33],
      ["app", 1000, 1000],
      ["nobody", 65534, 65534],
    ],
  );
  assert.equal(users[3]?.home, "/home/app");
  assert.equal(users[3]?.shell, "/bin/sh");
});

test("parseGroup reads members", () => {
  const groups = parseGroup(group);
  assert.deepEqual(groups.find((g) => g.name === "wheel")?.members, ["root", "app"]);
  assert.deepEqual(groups.find((g) => g.name === "audio")?.members, ["app", "www-data"]);
  assert.deepEqual(groups.find((g) => g.name === "root")?.members, []);
});

test("the passwd lookup finds users by name and by uid, with their group memberships", () => {
  assert.deepEqual(db.passwd("app"), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
  assert.deepEqual(db.passwd("1000"), { uid: 1000, gid: 1000, additionalGids: [10, 29] });
  assert.deepEqual(db.passwd("root"), { uid: 0, gid: 0, additionalGids: [10] });
  assert.equal(db.passwd("nosuch"), undefined);
  assert.equal(db.passwd("4242"), undefined);
  assert.equal(db.group("audio"), 29);
  assert.equal(db.group("nosuch"), undefined);
});

describe("imageUser", () => {
  const cases: Array<[user: string, uid: number, gid: number, additionalGids: number[]]> = [
    ["0", 0, 0, [10]],
    ["1000", 1000, 1000, [10, 29]], // a listed uid takes its primary group
    ["4242", 4242, 0, []], // an unlisted uid runs with gid 0
    ["1000:50", 1000, 50, [10, 29]],
    ["4242:4242", 4242, 4242, []],
    ["app", 1000, 1000, [10, 29]],
    ["www-data", 33, 33, [29]],
    ["app:audio", 1000, 29, [10, 29]],
    ["app:7", 1000, 7, [10, 29]],
    ["4242:audio", 4242, 29, []],
  ];
  for (const [user, uid, gid, additionalGids] of cases) {
    test(`"${user}" is uid ${uid} gid ${gid}`, () => {
      assert.deepEqual(imageUser(user, db.passwd, db.group), { uid, gid, additionalGids });
    });
  }

  test("numeric users need no /etc/passwd", () => {
    assert.deepEqual(imageUser("1000"), { uid: 1000, gid: 0, additionalGids: [] });
    assert.deepEqual(imageUser("1000:1000"), { uid: 1000, gid: 1000, additionalGids: [] });
  });

  test("a user name the image does not list is an error that says what to do", () => {
    assert.throws(
      () => imageUser("ghost", db.passwd, db.group),
      (err: Error) => {
        assert.ok(invalid(err));
        assert.match(err.message, /user "ghost" is not in the image's \/etc\/passwd/);
        assert.match(err.message, /numeric uid/);
        return true;
      },
    );
    assert.throws(() => imageUser("app"), /not in the image's \/etc\/passwd/);
  });

  test("an unknown group name and malformed strings are errors", () => {
    assert.throws(
      () => imageUser("app:ghosts", db.passwd, db.group),
      /group "ghosts" is not in the image's \/etc\/group/,
    );
    assert.throws(() => imageUser("a:b:c", db.passwd, db.group), invalid);
    assert.throws(() => imageUser("1000:", db.passwd, db.group), invalid);
    assert.throws(() => imageUser(":1000", db.passwd, db.group), invalid);
  });
});

test("the user string of a CRI security context", () => {
  assert.equal(securityContextUser("", undefined, undefined), "");
  assert.equal(securityContextUser("", { value: 1000n }, undefined), "1000");
  assert.equal(securityContextUser("", { value: 1000n }, { value: 2000n }), "1000:2000");
  assert.equal(securityContextUser("app", { value: 1000n }, undefined), "app");
  assert.equal(securityContextUser("app", undefined, { value: 2000n }), "app:2000");
  assert.equal(securityContextUser("", { value: 0n }, undefined), "0");
  assert.throws(
    () => securityContextUser("", undefined, { value: 2000n }),
    /run_as_group 2000 is set without run_as_user/,
  );
  assert.throws(() => securityContextUser("", { value: -1n }, undefined), /run_as_user -1 is not a valid id/);
  assert.throws(() => securityContextUser("", { value: 1n << 32n }, undefined), invalid);
});
