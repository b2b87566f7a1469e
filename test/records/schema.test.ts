import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import type protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, encodeRecordBinary, type RecordKind } from "../../src/records/codec.js";
import { SCHEMA } from "../../src/records/generated.js";
import { tempDir } from "../helpers/gitdir.js";
import { markedRequired, protoMessages, protoType } from "../helpers/proto.js";

const ROOT = join(import.meta.dirname, "../..");
const GENERATOR = join(ROOT, "scripts/gen-records.mjs");
const runs = process.env.SLOW ? 1000 : 40;

type Obj = Record<string, unknown>;
const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const kinds = () => protoMessages().map((t) => t.name as RecordKind);

/** A value of every field, nested messages included, read off the .proto (not the generated tables). */
function sample(type: protobuf.Type): Obj {
  const one = (f: protobuf.Field): unknown => {
    if (f.resolvedType && "fieldsArray" in f.resolvedType) return sample(f.resolvedType as protobuf.Type);
    if (f.type === "string") return `${f.name}-1`;
    if (f.type === "bool") return true;
    if (/64$/.test(f.type)) return "9007199254740993"; // 2^53 + 1: exact only as a string
    if (f.type === "bytes") return "AQID";
    return 7;
  };
  const out: Obj = {};
  for (const f of type.fieldsArray) out[f.name] = f.map ? { k: one(f) } : f.repeated ? [one(f)] : one(f);
  return out;
}

/** An arbitrary record of a message, its required fields always there and never empty. */
function arbitrary(type: protobuf.Type): fc.Arbitrary<Obj> {
  const fields: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of type.fieldsArray) {
    const must = markedRequired(f);
    let one: fc.Arbitrary<unknown>;
    if (f.resolvedType && "fieldsArray" in f.resolvedType) one = arbitrary(f.resolvedType as protobuf.Type);
    else if (f.type === "string") one = fc.string({ unit: "grapheme", minLength: must && !f.repeated && !f.map ? 1 : 0 });
    else if (f.type === "bool") one = fc.boolean();
    else if (f.type === "uint32") one = fc.nat({ max: 2 ** 32 - 1 });
    else if (f.type === "uint64") one = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
    else throw new Error(`no arbitrary for ${f.type}: add one`);
    fields[f.name] = f.map
      ? fc.dictionary(fc.stringMatching(/^[a-z0-9.-]{1,8}$/), one, { minKeys: must ? 1 : 0, maxKeys: 3 })
      : f.repeated
        ? fc.array(one, { minLength: must ? 1 : 0, maxLength: 3 })
        : one;
  }
  return fc.record(fields, { requiredKeys: type.fieldsArray.filter(markedRequired).map((f) => f.name) });
}

/** A record as the binary encoding carries it: proto3 fields without presence that hold their default are not written. */
function withoutDefaults(type: protobuf.Type, o: Obj): Obj {
  const out: Obj = {};
  for (const f of type.fieldsArray) {
    const v = o[f.name];
    if (v === undefined) continue;
    const nested = f.resolvedType && "fieldsArray" in f.resolvedType ? (f.resolvedType as protobuf.Type) : undefined;
    if (nested && !f.map) out[f.name] = f.repeated ? (v as Obj[]).map((x) => withoutDefaults(nested, x)) : withoutDefaults(nested, v as Obj);
    // "0" is the default of a 64-bit integer (a string in proto3 JSON), not of a string field.
    else if (f.repeated || f.map || !(v === "" || v === false || v === 0 || (v === "0" && /64$/.test(f.type)))) out[f.name] = v;
  }
  return out;
}

/** What protobufjs's reflection reads from our binary encoding, in the proto3 JSON shapes. */
const readBinary = (kind: string, bytes: Uint8Array) => {
  const t = protoType(kind);
  return t.toObject(t.decode(bytes), { longs: String, enums: String, bytes: String });
};

describe("the generated record module", () => {
  it("is what the .proto files generate now (after changing them: npm run gen:records)", () => {
    const out = join(tempDir(), "generated.ts");
    execFileSync(process.execPath, [GENERATOR, "--out", out]);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(join(ROOT, "src/records/generated.ts"), "utf8"));
    // The staleness check the build can run fails on a file that differs.
    expect(spawnSync(process.execPath, [GENERATOR, "--out", out, "--check"]).status).toBe(0);
    writeFileSync(out, readFileSync(out, "utf8").replace("releaseId: string;", "releaseId?: string;"));
    const stale = spawnSync(process.execPath, [GENERATOR, "--out", out, "--check"], { encoding: "utf8" });
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain("is not what proto/ generates; run `npm run gen:records`");
  });

  it("has every message and field of the .proto, in schema order, with its number and required rule", () => {
    expect(Object.keys(SCHEMA)).toEqual(kinds());
    for (const t of protoMessages()) {
      const fields = SCHEMA[t.name as RecordKind];
      expect(fields.map((f) => [f.json, f.id, f.repeated, f.required]), t.name).toEqual(t.fieldsArray.map((f) => [f.name, f.id, f.repeated && !f.map, markedRequired(f)]));
    }
    // The fields types.ts required and the codec did not check, before both came from the .proto.
    const required = (kind: RecordKind) => SCHEMA[kind].filter((f) => f.required).map((f) => f.json);
    expect(required("Channel")).toContain("updatedAt");
    expect(required("Instance")).toContain("changedAt");
    expect(required("Binary")).toEqual(expect.arrayContaining(["urls", "createdAt"]));
    expect(required("RepoRef")).toEqual(["name", "commit"]);
  });
});

describe("required fields", () => {
  it("every field the .proto marks required is enforced: a record without it, or with it empty, is refused on read and on write", () => {
    let checked = 0;
    for (const t of protoMessages()) {
      const kind = t.name as RecordKind;
      const full = sample(t);
      expect(decodeRecord(kind, json(full), "x.json").value).toEqual(full);
      for (const f of t.fieldsArray) {
        const { [f.name]: _, ...without } = full;
        if (!markedRequired(f)) {
          // Not required: the record stands without it.
          expect(decodeRecord(kind, json(without), "x.json").value).toEqual(without);
          continue;
        }
        checked++;
        const refused = expect.objectContaining({ code: "RECORD_INVALID", message: `x.json is not a valid ${kind} record: ${f.name} is missing` });
        expect(() => decodeRecord(kind, json(without), "x.json"), `${kind}.${f.name}`).toThrowError(refused);
        expect(() => decodeRecord(kind, json({ ...full, [f.name]: null }), "x.json")).toThrowError(refused);
        expect(() => encodeRecord(kind, without, {}, "x.json"), `${kind}.${f.name}`).toThrowError(refused);
        const empty = f.map ? {} : f.repeated ? [] : f.type === "string" ? "" : undefined;
        if (empty !== undefined) expect(() => decodeRecord(kind, json({ ...full, [f.name]: empty }), "x.json"), `${kind}.${f.name} empty`).toThrowError(refused);
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(checked).toBe(Object.values(SCHEMA).flat().filter((f) => f.required).length);
  });

  it("inside nested messages too, naming the path to the field", () => {
    const rel = { id: "r", project: "shop", version: "1", repos: [{ name: "app", commit: "abc" }, { name: "lib" }], createdAt: "2026-01-01T00:00:00Z" };
    expect(() => decodeRecord("Release", json(rel), "r.json")).toThrowError(expect.objectContaining({ code: "RECORD_INVALID", message: "r.json is not a valid Release record: repos[1].commit is missing" }));
    const ch = { project: "shop", name: "stable", releaseId: "r", updatedAt: "t", rollout: { previousReleaseId: "q" } };
    expect(() => decodeRecord("Channel", json(ch), "c.json")).toThrowError(expect.objectContaining({ message: expect.stringContaining("rollout.percent is missing") }));
  });
});

describe("the proto3 JSON codec", () => {
  it("refuses a value of the wrong type instead of coercing it, naming the field and the value", () => {
    const ch = { project: "shop", name: "stable", releaseId: "r", updatedAt: "t" };
    const cases: [Obj, string][] = [
      [{ ...ch, releaseId: 5 }, 'releaseId must be a string, not 5'],
      [{ ...ch, generation: "abc" }, 'generation must be a whole number from 0 to 4294967295 (uint32), not "abc"'],
      [{ ...ch, generation: 1.5 }, "generation must be a whole number"],
      [{ ...ch, generation: 2 ** 32 }, "generation must be a whole number"],
      [{ ...ch, generation: -1 }, "generation must be a whole number"],
      [{ ...ch, rollout: "50%" }, 'rollout must be an object (a Rollout), not "50%"'],
      [{ ...ch, rollout: [] }, "rollout must be an object (a Rollout)"],
    ];
    for (const [rec, why] of cases) expect(() => decodeRecord("Channel", json(rec), "c.json"), why).toThrowError(expect.objectContaining({ code: "RECORD_INVALID", message: expect.stringContaining(`c.json is not a valid Channel record: ${why}`) }));
    const inst = { id: "w", project: "shop", releaseId: "r", changedAt: "t" };
    expect(() => decodeRecord("Instance", json({ ...inst, labels: { zone: 1 } }), "i.json")).toThrowError(expect.objectContaining({ message: expect.stringContaining('labels["zone"] must be a string, not 1') }));
    expect(() => decodeRecord("Instance", json({ ...inst, labels: ["zone"] }), "i.json")).toThrowError(expect.objectContaining({ message: expect.stringContaining("labels must be an object (a map)") }));
    const bin = sample(protoType("Binary"));
    for (const size of ["-1", "18446744073709551616", "1e3", 1.5, true]) {
      expect(() => decodeRecord("Binary", json({ ...bin, size }), "b.json"), String(size)).toThrowError(expect.objectContaining({ message: expect.stringContaining("size must be a whole number from 0 to 18446744073709551615 (uint64, written as a string)") }));
    }
  });

  it("reads .proto names as well as JSON names and writes JSON names; a field given both ways is refused", () => {
    const snake = { project: "shop", name: "stable", release_id: "r", updated_at: "t", rollout: { percent: "50", previous_release_id: "q" } };
    const { value } = decodeRecord("Channel", json(snake), "c.json");
    expect(value).toEqual({ project: "shop", name: "stable", releaseId: "r", rollout: { percent: 50, previousReleaseId: "q" }, updatedAt: "t" });
    expect(Buffer.from(encodeRecord("Channel", value)).toString()).toContain('"releaseId": "r"');
    expect(() => decodeRecord("Channel", json({ ...snake, releaseId: "s" }), "c.json")).toThrowError(expect.objectContaining({ message: expect.stringContaining("releaseId is given twice (as release_id and as releaseId)") }));
  });

  it("keeps 64-bit integers exact as strings, in JSON and in the binary encoding", () => {
    const bin = { ...sample(protoType("Binary")), size: "18446744073709551615" };
    const { value } = decodeRecord<Obj>("Binary", json(bin), "b.json");
    expect(value.size).toBe("18446744073709551615");
    expect(readBinary("Binary", encodeRecordBinary("Binary", value)).size).toBe("18446744073709551615");
    expect(decodeRecord<Obj>("Binary", json({ ...bin, size: 19 }), "b.json").value.size).toBe("19");
    expect(decodeRecord<Obj>("Binary", json({ ...bin, size: "007" }), "b.json").value.size).toBe("7");
  });

  it("takes null as absent, and keeps unknown top-level fields on rewrite as they were written, after the known ones, even __proto__", () => {
    const text = '{"futureFlag": true, "project": "shop", "name": "stable", "releaseId": "r", "updatedAt": "t", "updatedBy": null, "__proto__": {"x": 1}, "constructor": "c", "canary_regions": ["eu"]}';
    const { value, unknown } = decodeRecord<Obj>("Channel", Buffer.from(text), "c.json");
    expect(value).toEqual({ project: "shop", name: "stable", releaseId: "r", updatedAt: "t" });
    expect(Object.getPrototypeOf(unknown)).toBe(Object.prototype);
    const out = Buffer.from(encodeRecord("Channel", value, unknown)).toString();
    expect(Object.keys(JSON.parse(out))).toEqual(["project", "name", "releaseId", "updatedAt", "__proto__", "canary_regions", "constructor", "futureFlag"]);
    expect(out).toContain('"__proto__": {\n    "x": 1\n  }');
  });

  it("refuses to write a field the schema does not have (a typo in code is not data)", () => {
    const ch = { project: "shop", name: "stable", releaseId: "r", updatedAt: "t", releaseID: "s" };
    expect(() => encodeRecord("Channel", ch, {}, "c.json")).toThrowError(expect.objectContaining({ code: "RECORD_INVALID", message: expect.stringContaining("releaseID is not a field of Channel") }));
    expect(() => encodeRecordBinary("Channel", ch)).toThrowError(expect.objectContaining({ code: "RECORD_INVALID" }));
  });

  it("writes every message, every field set, in schema order, and protobufjs reads the binary encoding back the same", () => {
    for (const t of protoMessages()) {
      const kind = t.name as RecordKind;
      const full = sample(t);
      const text = Buffer.from(encodeRecord(kind, full)).toString();
      expect(Object.keys(JSON.parse(text))).toEqual(t.fieldsArray.map((f) => f.name));
      expect(text.endsWith("}\n")).toBe(true);
      expect(readBinary(kind, encodeRecordBinary(kind, full))).toEqual(full);
    }
  });

  for (const t of protoMessages()) {
    test.prop([arbitrary(t)], { numRuns: runs })(`${t.name}: JSON round-trips to the same bytes, and the binary encoding reads back as the JSON`, (rec) => {
      const kind = t.name as RecordKind;
      const bytes = encodeRecord(kind, rec);
      const { value } = decodeRecord<Obj>(kind, bytes, "p.json");
      expect(Buffer.from(encodeRecord(kind, value)).toString()).toBe(Buffer.from(bytes).toString());
      expect(readBinary(kind, encodeRecordBinary(kind, value))).toEqual(withoutDefaults(t, value));
    });
  }
});
