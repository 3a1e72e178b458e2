#!/usr/bin/env node
// Checks that protos/ describes the same wire as the upstream definitions Debian ships:
// containerd 1.6's API, the shim task v2 API, runc options, cgroups metrics and gRPC's
// health service. Both sides
// are compiled with protoc into descriptor sets and compared: packages, message and enum
// names, fields (name, number, type, type name, label, oneof, map-ness), enum values and
// service methods (types and streaming). Comments and gogoproto options are ignored.
//
// Exit codes: 0 all match, 1 differences found (each one printed), 2 a prerequisite is
// missing (protoc, the upstream sources). Set BERTH_CRI_API_PROTO to a copy of cri-api's
// pkg/apis/runtime/v1/api.proto to check CRI too; without it CRI is reported as unchecked.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const protos = join(root, "protos");
const gocode = "/usr/share/gocode/src";
const include = "/usr/include";
const gogo = join(gocode, "github.com/gogo/protobuf");
const googleapis = join(gocode, "github.com/gogo/googleapis");
const containerdApi = "github.com/containerd/containerd/api";
// grpc-proto's definitions as golang-google-grpc-dev ships them (grpc/health/v1/health.proto).
const grpcProto = join(gocode, "google.golang.org/grpc/debian/missing-sources/grpc/grpc-proto/master");
const healthFile = "grpc/health/v1/health.proto";

function fail(msg) {
  console.error(`check-protos: ${msg}`);
  process.exit(2);
}

// Upstream import path -> our path under protos/.
function ourPath(p) {
  const rules = [
    ["github.com/containerd/containerd/api/", "containerd/"],
    ["github.com/containerd/containerd/", "containerd/"],
    ["github.com/containerd/cgroups/", "cgroups/"],
    ["k8s.io/cri-api/pkg/apis/", "cri/"],
  ];
  for (const [from, to] of rules) if (p.startsWith(from)) return to + p.slice(from.length);
  return p;
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".proto")) out.push(p);
  }
  return out;
}

const protoc = spawnSync("protoc", ["--version"], { encoding: "utf8" });
if (protoc.status !== 0) fail("protoc missing; apt-get install protobuf-compiler libprotobuf-dev");
for (const [p, pkg] of [
  [join(gocode, containerdApi), "golang-github-containerd-containerd-dev"],
  [
    join(gocode, "github.com/containerd/cgroups/stats/v1/metrics.proto"),
    "golang-github-containerd-cgroups-dev",
  ],
  [join(gogo, "gogoproto/gogo.proto"), "golang-github-gogo-protobuf-dev"],
  [join(googleapis, "google/rpc/status.proto"), "golang-github-gogo-googleapis-dev"],
  [join(include, "google/protobuf/descriptor.proto"), "libprotobuf-dev"],
  [join(grpcProto, healthFile), "golang-google-grpc-dev"],
]) {
  if (!existsSync(p)) fail(`${p} missing; apt-get install ${pkg}`);
}

const require = createRequire(join(root, "packages/api/package.json"));
let pb;
let wkt;
try {
  pb = await import(require.resolve("@bufbuild/protobuf"));
  wkt = await import(require.resolve("@bufbuild/protobuf/wkt"));
} catch {
  fail("@bufbuild/protobuf not found under packages/api; run 'pnpm install' first");
}

const upstreamFiles = [
  ...walk(join(gocode, containerdApi)).map((p) => relative(gocode, p)),
  "github.com/containerd/containerd/runtime/v2/task/shim.proto",
  "github.com/containerd/containerd/runtime/v2/runc/options/oci.proto",
  "github.com/containerd/cgroups/stats/v1/metrics.proto",
  "github.com/containerd/cgroups/v2/stats/metrics.proto",
];
const ourFiles = walk(protos).map((p) => relative(protos, p));
const tmp = mkdtempSync(join(tmpdir(), "check-protos-"));

function compile(name, args, cwd) {
  const out = join(tmp, `${name}.pb`);
  const r = spawnSync("protoc", [`--descriptor_set_out=${out}`, "--include_imports", ...args], {
    cwd,
    encoding: "utf8",
  });
  if (r.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    console.error(r.stderr);
    fail(`protoc failed on the ${name} definitions`);
  }
  const set = pb.fromBinary(wkt.FileDescriptorSetSchema, readFileSync(out));
  return new Map(set.file.map((f) => [f.name, f]));
}

const upstream = compile(
  "upstream",
  ["-I", include, "-I", gocode, "-I", gogo, "-I", googleapis, ...upstreamFiles],
  gocode,
);
const ours = compile("ours", ["-I", ".", "-I", include, ...ourFiles], protos);
upstream.set(healthFile, compile("health", ["-I", grpcProto, healthFile], grpcProto).get(healthFile));
upstreamFiles.push(healthFile);

// The CRI file imports gogo.proto by its full Go path, which clashes with the short
// "gogoproto/gogo.proto" the containerd files use, so it is compiled on its own.
const criUpstream = process.env.BERTH_CRI_API_PROTO;
const criFile = "k8s.io/cri-api/pkg/apis/runtime/v1/api.proto";
if (criUpstream) {
  if (!existsSync(criUpstream)) fail(`BERTH_CRI_API_PROTO=${criUpstream} does not exist`);
  // Lay the file out under its import path so that its own name matches.
  const criRoot = join(tmp, "cri");
  spawnSync("mkdir", ["-p", join(criRoot, dirname(criFile))]);
  spawnSync("cp", [criUpstream, join(criRoot, criFile)]);
  const cri = compile("cri", ["-I", criRoot, "-I", include, "-I", gocode, criFile], criRoot);
  upstream.set(criFile, cri.get(criFile));
  upstreamFiles.push(criFile);
}
rmSync(tmp, { recursive: true, force: true });

const diffs = [];
const counts = { files: 0, messages: 0, enums: 0, fields: 0, services: 0, methods: 0 };
const LABEL = { 1: "optional", 2: "required", 3: "repeated" };
const TYPE = Object.fromEntries(
  Object.entries(wkt.FieldDescriptorProto_Type)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v, k.replace(/^TYPE_/, "").toLowerCase()]),
);

function byName(list) {
  return new Map(list.map((x) => [x.name, x]));
}

// Reports names present on one side only; returns the names present on both.
function pair(where, kind, up, our) {
  const a = byName(up);
  const b = byName(our);
  for (const n of a.keys()) if (!b.has(n)) diffs.push(`${where}: ${kind} ${n} missing`);
  for (const n of b.keys()) if (!a.has(n)) diffs.push(`${where}: ${kind} ${n} not upstream`);
  return [...a.keys()].filter((n) => b.has(n)).map((n) => [n, a.get(n), b.get(n)]);
}

function fieldShape(m, f) {
  const isSet = (field) => pb.isFieldSet(f, wkt.FieldDescriptorProtoSchema.field[field]);
  const oneof = isSet("oneofIndex") && !f.proto3Optional ? m.oneofDecl[f.oneofIndex].name : "";
  return {
    number: f.number,
    label: LABEL[f.label] ?? String(f.label),
    type: TYPE[f.type] ?? String(f.type),
    typeName: f.typeName,
    oneof,
    proto3Optional: f.proto3Optional,
  };
}

function compareEnum(full, a, b) {
  counts.enums++;
  for (const [n, va, vb] of pair(full, "enum value", a.value, b.value)) {
    if (va.number !== vb.number) diffs.push(`${full}.${n}: number ${va.number} upstream, ${vb.number} ours`);
  }
}

function compareMessage(full, a, b) {
  counts.messages++;
  if (Boolean(a.options?.mapEntry) !== Boolean(b.options?.mapEntry)) {
    diffs.push(
      `${full}: map entry ${Boolean(a.options?.mapEntry)} upstream, ${Boolean(b.options?.mapEntry)} ours`,
    );
  }
  for (const [n, fa, fb] of pair(full, "field", a.field, b.field)) {
    counts.fields++;
    const sa = fieldShape(a, fa);
    const sb = fieldShape(b, fb);
    for (const k of Object.keys(sa)) {
      if (sa[k] !== sb[k])
        diffs.push(`${full}.${n}: ${k} ${JSON.stringify(sa[k])} upstream, ${JSON.stringify(sb[k])} ours`);
    }
  }
  for (const [n, ea, eb] of pair(full, "nested enum", a.enumType, b.enumType))
    compareEnum(`${full}.${n}`, ea, eb);
  for (const [n, ma, mb] of pair(full, "nested message", a.nestedType, b.nestedType)) {
    compareMessage(`${full}.${n}`, ma, mb);
  }
}

function compareService(full, a, b) {
  counts.services++;
  for (const [n, ma, mb] of pair(full, "method", a.method, b.method)) {
    counts.methods++;
    for (const k of ["inputType", "outputType", "clientStreaming", "serverStreaming"]) {
      if (ma[k] !== mb[k]) diffs.push(`${full}/${n}: ${k} ${ma[k]} upstream, ${mb[k]} ours`);
    }
  }
}

for (const name of upstreamFiles) {
  const a = upstream.get(name);
  const mine = ourPath(name);
  const b = ours.get(mine);
  if (!b) {
    diffs.push(`${name}: no protos/${mine}`);
    continue;
  }
  counts.files++;
  const where = `protos/${mine}`;
  if (a.package !== b.package) diffs.push(`${where}: package ${a.package} upstream, ${b.package} ours`);
  if (a.syntax !== b.syntax) diffs.push(`${where}: syntax ${a.syntax} upstream, ${b.syntax} ours`);
  const pkg = a.package;
  for (const [n, ma, mb] of pair(where, "message", a.messageType, b.messageType))
    compareMessage(`${pkg}.${n}`, ma, mb);
  for (const [n, ea, eb] of pair(where, "enum", a.enumType, b.enumType)) compareEnum(`${pkg}.${n}`, ea, eb);
  for (const [n, sa, sb] of pair(where, "service", a.service, b.service))
    compareService(`${pkg}.${n}`, sa, sb);
}

for (const d of diffs) console.log(d);
const what =
  `${counts.files} files, ${counts.messages} messages, ${counts.fields} fields, ${counts.enums} enums, ` +
  `${counts.services} services, ${counts.methods} methods`;
const cri = criUpstream
  ? `CRI runtime.v1 checked against ${basename(criUpstream)}`
  : "CRI runtime.v1 (protos/cri) not checked: no upstream copy on this machine (set BERTH_CRI_API_PROTO)";
if (diffs.length > 0) {
  console.log(`check-protos: ${diffs.length} difference(s) from upstream across ${what}; ${cri}`);
  process.exit(1);
}
console.log(`check-protos: protos/ matches upstream: ${what}; ${cri}`);
