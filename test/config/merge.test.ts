import { describe, expect, it } from "vitest";
import { getDotted, mergeLayers } from "../../src/config/merge.js";

describe("layer merge (defaults ← env ← developer)", () => {
  it("merges maps deep, later wins per key, lists replaced, null removes, origins kept", () => {
    const r = mergeLayers([
      { name: "defaults", value: { db: { host: "h", port: 5432, opts: { ssl: true } }, hosts: ["a", "b"], debug: false, gone: { x: 1 } } },
      { name: "env", value: { db: { host: "env-h" }, hosts: ["c"], gone: null } },
      { name: "developer", value: { db: { opts: { ssl: false } }, debug: true } },
    ]);
    expect(r.value).toEqual({ db: { host: "env-h", port: 5432, opts: { ssl: false } }, hosts: ["c"], debug: true });
    expect(r.origins).toEqual({ "db.host": "env", "db.port": "defaults", "db.opts.ssl": "developer", hosts: "env", debug: "developer" });
  });

  it("lets a later scalar replace a map and a later map replace a scalar", () => {
    const r = mergeLayers([
      { name: "a", value: { x: { y: 1 }, z: 1 } },
      { name: "b", value: { x: 2, z: { w: 3 } } },
    ]);
    expect(r.value).toEqual({ x: 2, z: { w: 3 } });
    expect(r.origins).toEqual({ x: "b", "z.w": "b" });
  });

  it("reads dotted paths", () => {
    expect(getDotted({ a: { b: [{ c: 1 }] } }, "a.b.0.c")).toBe(1);
    expect(getDotted({ a: 1 }, "a.b")).toBeUndefined();
  });
});
