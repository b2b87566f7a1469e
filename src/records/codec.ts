import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { BootMetaError, ExitCode } from "../errors.js";
import { showPath } from "../meta/names.js";
import { checkJsonDepth, decodeUtf8 } from "../limits.js";

/** The record kinds and their protobuf types in proto/bootmeta/v1. */
export type RecordKind = "Release" | "Channel" | "Binary" | "BinaryIndex" | "Instance";

const PROTO = fileURLToPath(new URL("../../proto/bootmeta/v1/records.proto", import.meta.url));
let root: protobuf.Root | undefined;

export function recordType(kind: RecordKind): protobuf.Type {
  root ??= protobuf.loadSync(PROTO);
  return root.lookupType(`bootmeta.v1.${kind}`);
}

/** A record plus the fields a newer writer put there that this version does not know. */
export interface Stored<T> {
  value: T;
  unknown: Record<string, unknown>;
}

function invalid(kind: RecordKind, where: string, why: string): BootMetaError {
  return new BootMetaError("RECORD_INVALID", `${showPath(where)} is not a valid ${kind} record: ${why}`, ExitCode.InvalidFormat, {
    data: { kind, where },
    suggestions: ["restore it from git history, or fix the field by hand (the file is the proto3 JSON mapping)"],
  });
}

const jsonNameOf = (f: protobuf.Field) => f.name; // protobufjs camel-cases names on load: the proto3 JSON names

/**
 * Fields a record is meaningless without. proto3 has no `required`, so the schema comments
 * say it and this enforces it, on write and on read.
 */
const REQUIRED: Record<RecordKind, string[]> = {
  Release: ["id", "project", "version", "repos", "createdAt"],
  Channel: ["project", "name", "releaseId"],
  Binary: ["sha256", "size", "os", "arch", "project", "releaseId"],
  BinaryIndex: ["sha256", "project"],
  Instance: ["id", "project", "releaseId"],
};

/** Validates and normalises a plain object against the schema. */
function check<T>(kind: RecordKind, obj: Record<string, unknown>, where: string): T {
  const type = recordType(kind);
  let msg: protobuf.Message;
  try {
    msg = type.fromObject(obj);
  } catch (e) {
    throw invalid(kind, where, (e as Error).message);
  }
  const err = type.verify(msg);
  if (err) throw invalid(kind, where, err);
  // Values that fromObject silently coerced (a number where a string belongs) are errors.
  for (const f of type.fieldsArray) {
    const v = obj[jsonNameOf(f)];
    if (v === undefined || v === null) continue;
    const scalarString = f.type === "string" && !f.repeated && !f.map;
    if (scalarString && typeof v !== "string") throw invalid(kind, where, `${f.name} must be a string`);
  }
  const out = type.toObject(msg, { longs: String, enums: String, defaults: false, arrays: false, objects: false }) as Record<string, unknown>;
  for (const f of REQUIRED[kind]) {
    const v = out[f];
    if (v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) throw invalid(kind, where, `${f} is missing`);
  }
  return out as T;
}

/** Parses a stored record (proto3 JSON), keeping unknown fields aside. */
export function decodeRecord<T>(kind: RecordKind, bytes: Uint8Array, where: string): Stored<T> {
  let obj: unknown;
  const text = decodeUtf8(bytes, where);
  // JSON.parse copes with any depth; writing the record back (JSON.stringify) does not.
  checkJsonDepth(text, where);
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw invalid(kind, where, `not JSON (${(e as Error).message})`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) throw invalid(kind, where, "the top level must be an object");
  const type = recordType(kind);
  const names = new Set(type.fieldsArray.flatMap((f) => [f.name, snake(f.name)]));
  // Keys are whatever the file holds: `__proto__` or `constructor` is a field name, not a property.
  const known: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const unknown: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  // Known fields by their proto3 JSON name; unknown ones exactly as written, to be written back.
  for (const [k, v] of Object.entries(obj)) {
    if (names.has(k)) known[camel(k)] = v;
    else unknown[k] = v;
  }
  return { value: check<T>(kind, known, where), unknown };
}

/**
 * Writes a record as pretty proto3 JSON: fields in schema order, defaults omitted, 2-space
 * indent, a final newline — stable bytes for clean git diffs. Unknown fields go after.
 */
export function encodeRecord<T>(kind: RecordKind, value: T, unknown: Record<string, unknown> = {}, where: string = kind): Uint8Array {
  const normal = check<Record<string, unknown>>(kind, value as Record<string, unknown>, where);
  const ordered: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const f of recordType(kind).fieldsArray) {
    const v = normal[f.name];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    ordered[f.name] = f.resolvedType instanceof protobuf.Type && v !== null && typeof v === "object" && !Array.isArray(v) && !f.map ? orderNested(f.resolvedType, v as Record<string, unknown>) : Array.isArray(v) && f.resolvedType instanceof protobuf.Type ? v.map((x) => orderNested(f.resolvedType as protobuf.Type, x)) : v;
  }
  for (const k of Object.keys(unknown).sort()) if (!Object.hasOwn(ordered, k)) ordered[k] = unknown[k];
  return Buffer.from(`${JSON.stringify(ordered, null, 2)}\n`, "utf8");
}

function orderNested(type: protobuf.Type, v: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) if (v[f.name] !== undefined) out[f.name] = v[f.name];
  return out;
}

/** The binary protobuf encoding of a record (`--output proto`). */
export function encodeRecordBinary<T>(kind: RecordKind, value: T): Uint8Array {
  const type = recordType(kind);
  return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const snake = (s: string) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
