// Generates src/records/generated.ts from the .proto files under proto/: the TypeScript view
// of every record message (what src/records/types.ts re-exports) and the tables the codec
// (src/records/codec.ts) works from: fields in schema order with their proto3 JSON names,
// types, field numbers and the [(required) = true] rule of options.proto. The schema is then
// written once, in the .proto; the CLI never parses a .proto at run time.
//
// Run by `npm run build` (and `npm run gen:records`); the output is checked in, so that tsc,
// vitest and a fresh clone see it without a build, and test/records/schema.test.ts fails when
// it is stale. `--out FILE` writes elsewhere; `--check` only says whether it is up to date.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import protobuf from "protobufjs";

const repo = join(import.meta.dirname, "..");
const PROTO_DIR = join(repo, "proto");
const PACKAGE = "bootmeta.v1";
const REQUIRED_OPTION = `${PACKAGE}.required`;
const DEFAULT_OUT = join(repo, "src/records/generated.ts");

const SCALARS = {
  double: "number",
  float: "number",
  int32: "number",
  uint32: "number",
  sint32: "number",
  fixed32: "number",
  sfixed32: "number",
  // proto3 JSON writes 64-bit integers as decimal strings (they do not fit a JS number).
  int64: "string",
  uint64: "string",
  sint64: "string",
  fixed64: "string",
  sfixed64: "string",
  bool: "boolean",
  string: "string",
  // base64 in proto3 JSON
  bytes: "string",
};

class SchemaError extends Error {}
const fail = (where, why) => {
  throw new SchemaError(`${where}: ${why}`);
};

/** Every .proto under proto/, relative to it (the import root), sorted. */
function protoFiles() {
  return readdirSync(PROTO_DIR, { recursive: true })
    .filter((f) => f.endsWith(".proto"))
    .map((f) => f.split("\\").join("/"))
    .sort();
}

function load() {
  const root = new protobuf.Root();
  const require = createRequire(import.meta.url);
  // Imports resolve against proto/ like `protoc -Iproto`; google/protobuf/* comes with protobufjs.
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? require.resolve(`protobufjs/${target}`) : join(PROTO_DIR, target));
  // keepCase: the proto names as written (JSON names are derived below, by protoc's rule);
  // alternateCommentMode: plain `//` comments become the doc comments of the generated types.
  root.loadSync(protoFiles(), { keepCase: true, alternateCommentMode: true });
  root.resolveAll();
  return root;
}

/** protoc's ToJsonName: underscores dropped, the letter after one upper-cased. */
function jsonName(protoName) {
  let out = "";
  let upper = false;
  for (const c of protoName) {
    if (c === "_") upper = true;
    else {
      out += upper ? c.toUpperCase() : c;
      upper = false;
    }
  }
  return out;
}

/** true when the field carries [(required) = true]; any other custom option is an error (no one would read it). */
function isRequired(field, where) {
  let required = false;
  for (const [name, value] of Object.entries(field.options ?? {})) {
    if (name === "json_name" || name === "deprecated") continue;
    const m = /^\((\.?[\w.]+)\)$/.exec(name);
    const ext = m ? field.parent.lookup(m[1]) : null;
    if (!(ext instanceof protobuf.Field) || ext.fullName !== `.${REQUIRED_OPTION}`) fail(where, `option ${name} is not one the generator knows (only (${REQUIRED_OPTION}), json_name and deprecated)`);
    if (typeof value !== "boolean") fail(where, `(required) must be true or false, got ${JSON.stringify(value)}`);
    required = value;
  }
  return required;
}

/** The messages and enums of the package, checked against what the codec supports. */
function collect(root) {
  const ns = root.lookup(PACKAGE);
  if (!(ns instanceof protobuf.Namespace)) fail(PACKAGE, "no such package in proto/");
  const messages = [];
  const enums = [];
  for (const t of ns.nestedArray) {
    if (t instanceof protobuf.Type) messages.push(t);
    else if (t instanceof protobuf.Enum) enums.push(t);
    else if (t instanceof protobuf.Field && t.fullName === `.${REQUIRED_OPTION}`) continue;
    else if (t instanceof protobuf.Service) continue;
    else fail(t.fullName, "the generator supports top-level messages and enums only");
  }
  const local = new Set([...messages, ...enums]);
  const out = messages.map((type) => {
    const name = type.fullName.slice(1);
    if (type.nestedArray.length) fail(name, "nested types are not supported: declare them at the top level");
    if (type.oneofsArray.length) fail(name, "oneof (and proto3 `optional`) is not supported by the codec");
    const jsonNames = new Set();
    const fields = type.fieldsArray.map((f) => {
      const where = `${name}.${f.name}`;
      if (f.required || f.rule === "required") fail(where, "proto2 `required` is not proto3: use [(required) = true]");
      const json = typeof f.options?.json_name === "string" ? f.options.json_name : jsonName(f.name);
      if (jsonNames.has(json)) fail(where, `the JSON name ${json} is taken by another field`);
      jsonNames.add(json);
      const resolved = f.resolvedType;
      let kind;
      if (resolved === null) {
        if (!(f.type in SCALARS)) fail(where, `unknown type ${f.type}`);
        kind = "scalar";
      } else {
        if (!local.has(resolved)) fail(where, `type ${resolved.fullName.slice(1)} is not a top-level message or enum of ${PACKAGE}`);
        kind = resolved instanceof protobuf.Enum ? "enum" : "message";
      }
      return {
        json,
        proto: f.name,
        id: f.id,
        type: resolved ? resolved.name : f.type,
        kind,
        repeated: f.repeated && !f.map,
        map: f.map ? f.keyType : undefined,
        required: isRequired(f, where),
        comment: f.comment,
      };
    });
    return { name: type.name, comment: type.comment, fields };
  });
  return {
    messages: out,
    enums: enums.map((e) => ({ name: e.name, comment: e.comment, values: Object.entries(e.values) })),
  };
}

const doc = (comment, indent) => {
  if (!comment) return "";
  const lines = comment.replace(/\*\//g, "*\\/").split("\n");
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} *${l ? ` ${l}` : ""}`).join("\n")}\n${indent} */\n`;
};
const key = (name) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));

function tsType(f) {
  const base = f.kind === "scalar" ? SCALARS[f.type] : f.type;
  if (f.map) return `Record<string, ${base}>`;
  return f.repeated ? `${base}[]` : base;
}

function render({ messages, enums }) {
  const sources = protoFiles().map((f) => relative(repo, join(PROTO_DIR, f)));
  let s = "";
  s += `// Generated by scripts/gen-records.mjs from ${sources.join(", ")}: do not edit.\n`;
  s += "// Change the .proto, then `npm run gen:records` (npm run build does it too).\n\n";
  s += "/** The scalar types of protobuf. */\n";
  s += `export type ScalarType = ${Object.keys(SCALARS).map((t) => JSON.stringify(t)).join(" | ")};\n\n`;
  for (const e of enums) {
    s += doc(e.comment, "");
    s += `export type ${e.name} = ${e.values.map(([n]) => JSON.stringify(n)).join(" | ")};\n\n`;
  }
  for (const m of messages) {
    s += doc(m.comment, "");
    s += `export interface ${m.name} {\n`;
    for (const f of m.fields) s += `${doc(f.comment, "  ")}  ${key(f.json)}${f.required ? "" : "?"}: ${tsType(f)};\n`;
    s += "}\n\n";
  }
  s += `/** Every message of ${PACKAGE} by name. */\n`;
  s += `export interface Messages {\n${messages.map((m) => `  ${m.name}: ${m.name};\n`).join("")}}\n\n`;
  s += "export type MessageName = keyof Messages;\n\n";
  s += `export type EnumName = ${enums.length ? enums.map((e) => JSON.stringify(e.name)).join(" | ") : "never"};\n\n`;
  s += `/** A field of a message, in the proto3 JSON mapping. */
export interface FieldSchema {
  /** The proto3 JSON name (lowerCamelCase, or json_name), which the codec writes. */
  readonly json: string;
  /** The name in the .proto, which the codec also accepts on read. */
  readonly proto: string;
  /** The field number (the binary encoding's tag). */
  readonly id: number;
  /** The value's type (for a map, the type of its values). */
  readonly type: ScalarType | MessageName | EnumName;
  readonly kind: "scalar" | "message" | "enum";
  readonly repeated: boolean;
  /** For a map field, the type of its keys. */
  readonly map?: ScalarType;
  /** [(required) = true]: a record without it (absent, null, "" or empty) is invalid. */
  readonly required: boolean;
}

`;
  s += "/** The fields of each message, in schema order (the order the codec writes them in). */\n";
  s += "export const SCHEMA: { readonly [K in MessageName]: readonly FieldSchema[] } = {\n";
  for (const m of messages) {
    s += `  ${m.name}: [\n`;
    for (const f of m.fields) {
      const parts = [`json: ${JSON.stringify(f.json)}`, `proto: ${JSON.stringify(f.proto)}`, `id: ${f.id}`, `type: ${JSON.stringify(f.type)}`, `kind: ${JSON.stringify(f.kind)}`, `repeated: ${f.repeated}`];
      if (f.map) parts.push(`map: ${JSON.stringify(f.map)}`);
      parts.push(`required: ${f.required}`);
      s += `    { ${parts.join(", ")} },\n`;
    }
    s += "  ],\n";
  }
  s += "};\n\n";
  s += "/** The values of each enum by name. */\n";
  s += "export const ENUMS: { readonly [K in EnumName]: Readonly<Record<string, number>> } = {";
  s += enums.length ? `\n${enums.map((e) => `  ${e.name}: { ${e.values.map(([n, v]) => `${key(n)}: ${v}`).join(", ")} },\n`).join("")}};\n` : "};\n";
  return s;
}

/** The text of generated.ts for the .proto files as they are now. */
export function generate() {
  return render(collect(load()));
}

const isMain = process.argv[1] && join(process.argv[1]) === join(import.meta.filename);
if (isMain) {
  const args = process.argv.slice(2);
  const outAt = args.indexOf("--out");
  const out = outAt >= 0 ? args[outAt + 1] : DEFAULT_OUT;
  if (!out) {
    console.error("gen-records: --out needs a file name");
    process.exit(2);
  }
  let text;
  try {
    text = generate();
  } catch (e) {
    if (!(e instanceof SchemaError)) throw e;
    console.error(`gen-records: ${e.message}`);
    process.exit(1);
  }
  let current;
  try {
    current = readFileSync(out, "utf8");
  } catch {
    current = undefined;
  }
  if (args.includes("--check")) {
    if (current !== text) {
      console.error(`gen-records: ${relative(process.cwd(), out)} is not what proto/ generates; run \`npm run gen:records\` and commit it`);
      process.exit(1);
    }
  } else if (current !== text) {
    // Written only when it changed, so that a build does not touch it (nor tsc's view of it) for nothing.
    writeFileSync(out, text);
  }
}
