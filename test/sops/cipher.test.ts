import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { decryptValue, encryptValue, formatGoFloat, IvStash, parseGoFloat } from "../../src/sops/cipher.js";
import { Comment, SopsTime } from "../../src/sops/tree.js";
import { VECTORS } from "../helpers/vectors.js";

const runs = process.env.SLOW ? 1000 : 50;
const key = new Uint8Array(32).fill(7);

/** Unwraps a vector's data key with the real age CLI: an oracle independent of our age code. */
function ageUnwrap(enc: string, keyFile: string): Buffer {
  return execFileSync("age", ["-d", "-i", keyFile], { input: enc });
}

describe("value cipher", () => {
  it("decrypts values written by sops 3.9.2 with their path as AAD (humphd secret.enc.json)", () => {
    const file = JSON.parse(readFileSync(join(VECTORS, "humphd-sops-age/secret.enc.json"), "utf8"));
    const dataKey = ageUnwrap(file.sops.age[0].enc, join(VECTORS, "humphd-sops-age/key.txt"));
    expect(dataKey).toHaveLength(32);
    expect(decryptValue(file.string, dataKey, "string:")).toBe("string");
    expect(decryptValue(file.int, dataKey, "int:")).toBe(7); // sops ≤3.13.1: JSON numbers are floats
    expect(decryptValue(file.boolean, dataKey, "boolean:")).toBe(true);
    // List items share their parent's path: no index in the AAD.
    expect(decryptValue(file.complex.array[0], dataKey, "complex:array:")).toBe(JSON.parse(readFileSync(join(VECTORS, "humphd-sops-age/secret.json"), "utf8")).complex.array[0]);
    // The MAC is sealed with lastmodified as AAD and is 128 upper-case hex characters.
    expect(String(decryptValue(file.sops.mac, dataKey, file.sops.lastmodified))).toMatch(/^[0-9A-F]{128}$/);
  });

  it("refuses a value moved to another key (AAD mismatch)", () => {
    const enc = encryptValue("s3cret", key, "db:password:");
    expect(() => decryptValue(enc, key, "db:user:")).toThrowError(expect.objectContaining({ code: "SOPS_VALUE_AUTH_FAILED" }));
  });

  it("refuses a value decrypted with the wrong data key", () => {
    const enc = encryptValue("s3cret", key, "a:");
    expect(() => decryptValue(enc, new Uint8Array(32).fill(8), "a:")).toThrowError(expect.objectContaining({ code: "SOPS_VALUE_AUTH_FAILED" }));
  });

  it("names the type it does not know", () => {
    const enc = encryptValue("x", key, "a:").replace("type:str", "type:weird");
    expect(() => decryptValue(enc, key, "a:")).toThrowError(expect.objectContaining({ code: "SOPS_UNKNOWN_TYPE", message: expect.stringContaining('"weird"') }));
  });

  it("refuses text that is not an ENC value, and bad base64", () => {
    expect(() => decryptValue("plain", key, "a:")).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_VALUE" }));
    const enc = encryptValue("x", key, "a:");
    expect(() => decryptValue(enc.replace(/iv:[^,]+/, "iv:***"), key, "a:")).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_VALUE" }));
  });

  // decryptValue reads what sops writes through a faster pattern than sops' own
  // (aes/cipher.go:55); the verdict on any text must be the one sops' pattern gives.
  test.prop([fc.array(fc.tuple(fc.nat(), fc.constantFrom("A", "/", "+", "=", ",", ":", "]", "[", "x", " ", "\n", ",iv:", ",tag:AAAA", ",type:str]")), { maxLength: 3 }), fc.boolean()], { numRuns: runs * 4 })(
    "judges damaged ENC values as sops' pattern does",
    (edits, cut) => {
      let text = encryptValue("v", key, "a:");
      for (const [at, what] of edits) {
        const i = at % (text.length + 1);
        text = cut ? text.slice(0, i) + what + text.slice(i + 1) : text.slice(0, i) + what + text.slice(i);
      }
      const m = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/.exec(text);
      const b64 = (f: string) => /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(f) && Buffer.from(Buffer.from(f, "base64").toString("base64")).toString() === f;
      const want = !m
        ? "not an ENC"
        : (["data", "iv", "tag"] as const).find((_, k) => !b64(m[k + 1] as string))
          ? `a ${(["data", "iv", "tag"] as const).find((_, k) => !b64(m[k + 1] as string))} field`
          : ["str", "int", "float", "bool", "bytes", "time", "comment"].includes(m[4] as string)
            ? "decrypts or fails authentication"
            : "SOPS_UNKNOWN_TYPE";
      let got: string;
      try {
        decryptValue(text, key, "a:");
        got = "decrypts or fails authentication";
      } catch (e) {
        const { code, message } = e as { code: string; message: string };
        got = code === "SOPS_VALUE_AUTH_FAILED" ? "decrypts or fails authentication" : code === "SOPS_UNKNOWN_TYPE" ? code : (/not an ENC|a (data|iv|tag) field/.exec(message)?.[0] ?? message);
      }
      expect(got, text).toBe(want);
    },
  );

  it("leaves empty strings and empty comments unencrypted, as sops", () => {
    expect(encryptValue("", key, "a:")).toBe("");
    expect(encryptValue(new Comment(""), key, "a:")).toBe("");
    expect(decryptValue("", key, "a:")).toBe("");
  });

  it("writes 32-byte IVs and the sops type tags", () => {
    const enc = encryptValue(true, key, "a:");
    const iv = /iv:([^,]+)/.exec(enc)?.[1] ?? "";
    expect(Buffer.from(iv, "base64")).toHaveLength(32);
    expect(enc).toMatch(/,type:bool\]$/);
    expect(decryptValue(enc, key, "a:")).toBe(true);
    expect(encryptValue(12n, key, "a:")).toMatch(/type:int\]$/);
    expect(encryptValue(1.5, key, "a:")).toMatch(/type:float\]$/);
    expect(encryptValue(new SopsTime("2024-01-02T03:04:05Z"), key, "a:")).toMatch(/type:time\]$/);
    expect(encryptValue(new Comment(" hi"), key, "a:")).toMatch(/type:comment\]$/);
  });

  it("reuses the IV of an unchanged value so its ciphertext stays identical", () => {
    const stash = new IvStash();
    const enc = encryptValue("v", key, "a:");
    decryptValue(enc, key, "a:", { stash });
    expect(encryptValue("v", key, "a:", stash)).toBe(enc);
    expect(encryptValue("w", key, "a:", stash)).not.toBe(enc);
    expect(encryptValue("v", key, "b:", stash)).not.toBe(enc);
  });

  test.prop([
    fc.oneof(
      fc.string({ minLength: 1, unit: "grapheme" }),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.double({ noNaN: true }),
      fc.boolean(),
    ),
    fc.array(fc.string({ minLength: 1 }), { maxLength: 4 }),
  ], { numRuns: runs })("round-trips every scalar type", (v, path) => {
    const aad = `${path.join(":")}:`;
    const back = decryptValue(encryptValue(v, key, aad), key, aad);
    if (typeof v === "number") expect(Object.is(back, v) || (v === 0 && back === 0)).toBe(true);
    else expect(back).toEqual(v);
  });
});

describe("Go float formatting", () => {
  it.each([
    [1234568000, "1234568000"],
    [0.000001, "0.000001"],
    [1e-7, "0.0000001"],
    [1e21, "1000000000000000000000"],
    [25.4, "25.4"],
    [7, "7"],
    [-0, "-0"],
    [1.5e300, `15${"0".repeat(299)}`],
    [Infinity, "+Inf"],
    [-Infinity, "-Inf"],
    [NaN, "NaN"],
  ])("formats %s as %s", (n, s) => {
    expect(formatGoFloat(n)).toBe(s);
  });

  test.prop([fc.double({ noNaN: true })], { numRuns: runs })("parses back to the same number", (n) => {
    expect(parseGoFloat(formatGoFloat(n))).toBe(n);
  });
});

describe("Go 'g' float formatting (sops' YAML output)", () => {
  it.each([
    [1234568000, "1.234568e+09"],
    [1000000, "1e+06"],
    [123456, "123456"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [3.14, "3.14"],
    [7, "7"],
  ])("formats %s as %s", async (n, s) => {
    const { formatGoFloatG } = await import("../../src/sops/cipher.js");
    expect(formatGoFloatG(n)).toBe(s);
  });
});
