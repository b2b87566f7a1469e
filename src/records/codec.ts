import { createRequire } from "node:module";
import type { Writer } from "protobufjs/minimal.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { showPath } from "../meta/names.js";
import { checkJsonDepth, decodeUtf8 } from "../limits.js";
import { ENUMS, type EnumName, type FieldSchema, type MessageName, SCHEMA, type ScalarType } from "./generated.js";

/**
 * The record kinds: the messages of proto/bootmeta/v1. Their fields, in order, with types and
 * required-field rules, come from generated.ts (scripts/gen-records.mjs writes it from the
 * .proto), so no .proto is parsed at run time.
 */
export type RecordKind = MessageName;

/** A record plus the fields a newer writer put there that this version does not know. */
export interface Stored<T> {
  value: T;
  unknown: Record<string, unknown>;
}

type Obj = Record<string, unknown>;

function invalid(kind: RecordKind, where: string, why: string): BootMetaError {
  return new BootMetaError("RECORD_INVALID", `${showPath(where)} is not a valid ${kind} record: ${why}`, ExitCode.InvalidFormat, {
    data: { kind, where },
    suggestions: ["restore it from git history, or fix the field by hand (the file is the proto3 JSON mapping)"],
  });
}

/** How a message is read: a stored record keeps unknown top-level fields; a value to write may have none. */
interface Mode {
  kind: RecordKind;
  where: string;
  /** Unknown fields are an error (a value built in code), not data from a newer writer. */
  strict: boolean;
  /** Apply the [(required) = true] rules (not to a view that leaves out what its reader may not see). */
  required: boolean;
}

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** An own property even for `__proto__`, which a plain assignment would take as the prototype. */
function put(o: Obj, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** The fields of a message by proto3 JSON name and by .proto name: readers accept both (proto3 JSON spec). */
const byNameCache = new Map<MessageName, Map<string, FieldSchema>>();
function fieldsByName(type: MessageName): Map<string, FieldSchema> {
  let m = byNameCache.get(type);
  if (!m) {
    m = new Map();
    for (const f of SCHEMA[type]) {
      m.set(f.json, f);
      m.set(f.proto, f);
    }
    byNameCache.set(type, m);
  }
  return m;
}

const INT32: Partial<Record<ScalarType, [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
};
const INT64: Partial<Record<ScalarType, [bigint, bigint]>> = {
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};
const INTEGER = /^-?\d+$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * A scalar in the proto3 JSON mapping, normalised: 32-bit integers as numbers (a decimal
 * string is accepted too), 64-bit ones as decimal strings (a safe number is accepted too),
 * bytes as base64. Nothing is coerced silently: "abc" is not a number, 1 is not a string.
 */
function scalar(m: Mode, type: ScalarType, v: unknown, name: string): unknown {
  const bad = (rule: string) => invalid(m.kind, m.where, `${name} must be ${rule}, not ${JSON.stringify(v)}`);
  const int32 = INT32[type];
  if (int32) {
    const n = typeof v === "number" ? v : typeof v === "string" && INTEGER.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < int32[0] || n > int32[1]) throw bad(`a whole number from ${int32[0]} to ${int32[1]} (${type})`);
    return n;
  }
  const int64 = INT64[type];
  if (int64) {
    const n = typeof v === "number" && Number.isSafeInteger(v) ? BigInt(v) : typeof v === "string" && INTEGER.test(v) ? BigInt(v) : undefined;
    if (n === undefined || n < int64[0] || n > int64[1]) throw bad(`a whole number from ${int64[0]} to ${int64[1]} (${type}, written as a string)`);
    return n.toString();
  }
  switch (type) {
    case "string":
      if (typeof v !== "string") throw bad("a string");
      return v;
    case "bool":
      if (typeof v !== "boolean") throw bad("true or false");
      return v;
    case "bytes":
      if (typeof v !== "string" || !BASE64.test(v)) throw bad("base64");
      return v;
    default: {
      // float, double: a number, or one of the strings proto3 JSON uses for what JSON cannot write.
      if (typeof v === "number" || (typeof v === "string" && ["NaN", "Infinity", "-Infinity"].includes(v))) return v;
      if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
      throw bad(`a number (${type})`);
    }
  }
}

function enumValue(m: Mode, type: EnumName, v: unknown, name: string): unknown {
  const values: Readonly<Record<string, number>> = ENUMS[type];
  if (typeof v === "string" && Object.hasOwn(values, v)) return v;
  if (typeof v === "number" && Number.isInteger(v)) return Object.keys(values).find((k) => values[k] === v) ?? v;
  throw invalid(m.kind, m.where, `${name} must be one of ${Object.keys(values).join(", ")}, not ${JSON.stringify(v)}`);
}

function single(m: Mode, f: FieldSchema, v: unknown, name: string): unknown {
  if (f.kind === "message") {
    if (!isObject(v)) throw invalid(m.kind, m.where, `${name} must be an object (a ${f.type}), not ${JSON.stringify(v)}`);
    return message(m, f.type as MessageName, v, `${name}.`);
  }
  if (f.kind === "enum") return enumValue(m, f.type as EnumName, v, name);
  return scalar(m, f.type as ScalarType, v, name);
}

/** A field's value, normalised; undefined for an empty list or map (written as absent). */
function fieldValue(m: Mode, f: FieldSchema, v: unknown, name: string): unknown {
  if (f.map) {
    if (!isObject(v)) throw invalid(m.kind, m.where, `${name} must be an object (a map), not ${JSON.stringify(v)}`);
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) {
      if (f.map !== "string") scalar(m, f.map, k, `a key of ${name}`);
      put(out, k, single(m, f, x, `${name}[${JSON.stringify(k)}]`));
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (f.repeated) {
    if (!Array.isArray(v)) throw invalid(m.kind, m.where, `${name} must be a list, not ${JSON.stringify(v)}`);
    const out = v.map((x, i) => single(m, f, x, `${name}[${i}]`));
    return out.length ? out : undefined;
  }
  return single(m, f, v, name);
}

/**
 * A message checked against the schema and rebuilt in schema order (stable bytes for clean
 * git diffs). Fields with a null value are absent (proto3 JSON). Unknown fields go to
 * `unknown` at the top level of a stored record; inside a nested message they are dropped.
 */
function message(m: Mode, type: MessageName, obj: Obj, at: string, unknown?: Obj): Obj {
  const names = fieldsByName(type);
  const given = new Map<FieldSchema, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(obj)) {
    const f = names.get(key);
    if (!f) {
      if (m.strict) throw invalid(m.kind, m.where, `${at}${key} is not a field of ${type}`);
      // Kept under the name it was written with: renaming a field this version does not know is not keeping it.
      if (unknown) put(unknown, key, value);
      continue;
    }
    if (value === undefined || value === null) continue;
    const before = given.get(f);
    if (before) throw invalid(m.kind, m.where, `${at}${f.json} is given twice (as ${before.key} and as ${key})`);
    given.set(f, { key, value });
  }
  const out: Obj = {};
  for (const f of SCHEMA[type]) {
    const g = given.get(f);
    const v = g === undefined ? undefined : fieldValue(m, f, g.value, `${at}${f.json}`);
    if (m.required && f.required && (v === undefined || v === "")) throw invalid(m.kind, m.where, `${at}${f.json} is missing`);
    if (v !== undefined) out[f.json] = v;
  }
  return out;
}

/**
 * Parses a stored record (proto3 JSON), keeping unknown top-level fields aside. Throws
 * RECORD_INVALID naming `where` and the field for bad JSON, a wrong type or a missing
 * required field.
 */
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
  if (!isObject(obj)) throw invalid(kind, where, "the top level must be an object");
  const unknown: Obj = {};
  const value = message({ kind, where, strict: false, required: true }, kind, obj, "", unknown);
  return { value: value as T, unknown };
}

/**
 * Writes a record as pretty proto3 JSON: fields in schema order, absent ones (and empty lists
 * and maps) left out, 2-space indent, a final newline — stable bytes for clean git diffs.
 * Unknown fields go after, sorted. Throws RECORD_INVALID for a value the schema does not
 * allow, a field it does not have, or a required field missing.
 */
export function encodeRecord<T>(kind: RecordKind, value: T, unknown: Record<string, unknown> = {}, where: string = kind): Uint8Array {
  if (!isObject(value)) throw invalid(kind, where, "a record is an object");
  const ordered = message({ kind, where, strict: true, required: true }, kind, value, "");
  for (const k of Object.keys(unknown).sort()) if (!Object.hasOwn(ordered, k)) put(ordered, k, unknown[k]);
  return Buffer.from(`${JSON.stringify(ordered, null, 2)}\n`, "utf8");
}

/** protobufjs's writer, loaded on the first binary encoding only: most commands never need it. */
let minimal: typeof import("protobufjs/minimal.js") | undefined;
function newWriter(): Writer {
  minimal ??= createRequire(import.meta.url)("protobufjs/minimal.js") as typeof import("protobufjs/minimal.js");
  return minimal.Writer.create();
}

const WIRE: Record<ScalarType, number> = {
  int32: 0, uint32: 0, sint32: 0, int64: 0, uint64: 0, sint64: 0, bool: 0,
  fixed64: 1, sfixed64: 1, double: 1,
  string: 2, bytes: 2,
  fixed32: 5, sfixed32: 5, float: 5,
};

/** One value without its tag. 64-bit values are decimal strings, which protobufjs reads with long.js. */
function writeRaw(w: Writer, type: ScalarType, v: unknown): void {
  if (type === "bytes") w.bytes(Buffer.from(v as string, "base64"));
  else if (type === "double" || type === "float") w[type](Number(v));
  else (w[type] as (x: unknown) => Writer).call(w, v);
}

function writeField(w: Writer, id: number, type: FieldSchema["type"], kind: FieldSchema["kind"], v: unknown): void {
  if (kind === "message") {
    w.uint32((id << 3) | 2).fork();
    writeMessage(w, type as MessageName, v as Obj);
    w.ldelim();
  } else if (kind === "enum") {
    w.uint32(id << 3).int32(typeof v === "number" ? v : (ENUMS[type as EnumName][v as string] as number));
  } else {
    w.uint32((id << 3) | WIRE[type as ScalarType]);
    writeRaw(w, type as ScalarType, v);
  }
}

/**
 * proto3 fields without presence are not written when they hold their default (0, "", false,
 * the first enum value), as protoc's and protobufjs's encoders do: the bytes are canonical.
 */
function isDefault(f: FieldSchema, v: unknown): boolean {
  if (f.kind === "message") return false;
  if (f.kind === "enum") return v === 0 || (typeof v === "string" && ENUMS[f.type as EnumName][v] === 0);
  if (f.type === "string" || f.type === "bytes") return v === "";
  if (f.type === "bool") return v === false;
  if (INT64[f.type as ScalarType]) return v === "0";
  return Object.is(v, 0);
}

function writeMessage(w: Writer, type: MessageName, v: Obj): void {
  for (const f of SCHEMA[type]) {
    const x = v[f.json];
    if (x === undefined) continue;
    if (f.map) {
      for (const [k, val] of Object.entries(x as Obj)) {
        w.uint32((f.id << 3) | 2).fork();
        const key = f.map === "bool" ? k === "true" : INT32[f.map] ? Number(k) : k;
        writeField(w, 1, f.map, "scalar", key);
        writeField(w, 2, f.type, f.kind, val);
        w.ldelim();
      }
    } else if (f.repeated && f.kind !== "message" && (f.kind === "enum" || WIRE[f.type as ScalarType] !== 2)) {
      // proto3 packs repeated numbers.
      w.uint32((f.id << 3) | 2).fork();
      for (const e of x as unknown[]) {
        if (f.kind === "enum") w.int32(typeof e === "number" ? e : (ENUMS[f.type as EnumName][e as string] as number));
        else writeRaw(w, f.type as ScalarType, e);
      }
      w.ldelim();
    } else if (f.repeated) for (const e of x as unknown[]) writeField(w, f.id, f.type, f.kind, e);
    else if (!isDefault(f, x)) writeField(w, f.id, f.type, f.kind, x);
  }
}

/**
 * The binary protobuf encoding of a record (`--output proto`). A view may leave out a
 * required field its reader may not see (a sealed binary's URLs), so only types are checked.
 */
export function encodeRecordBinary<T>(kind: RecordKind, value: T): Uint8Array {
  if (!isObject(value)) throw invalid(kind, kind, "a record is an object");
  const v = message({ kind, where: kind, strict: true, required: false }, kind, value, "");
  const w = newWriter();
  writeMessage(w, kind, v);
  return w.finish();
}
