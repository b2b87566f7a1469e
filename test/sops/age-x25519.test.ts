import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createPrivateKey, createPublicKey, hkdfSync } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { bech32 } from "@scure/base";
import { armor, Decrypter, Encrypter } from "age-encryption";
import { describe, expect, it } from "vitest";
import { generateAgeKey, unwrapDataKey, wrapDataKey } from "../../src/sops/age.js";
import { armorAge, decryptAgeX25519, encryptAgeX25519, hkdf32, NATIVE_MAX_PAYLOAD, nativeIdentity, x25519PrivateKey, x25519PublicKey, x25519RawPublic } from "../../src/sops/age-x25519.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { tempDir } from "../helpers/gitdir.js";

const runs = process.env.SLOW ? 200 : 20;

describe("native X25519 age decryption", () => {
  it("opens what the age CLI wrote, and returns not-mine for someone else's key", async () => {
    const a = await generateAgeKey();
    const b = await generateAgeKey();
    const file = execFileSync("age", ["-r", a.recipient], { input: Buffer.alloc(32, 7) });
    expect(decryptAgeX25519(file, [nativeIdentity(a.identity)!])).toEqual({ kind: "ok", data: new Uint8Array(Buffer.alloc(32, 7)) });
    expect(decryptAgeX25519(file, [nativeIdentity(b.identity)!])).toEqual({ kind: "not-mine" });
  });

  test.prop([fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.integer({ min: 1, max: 3 })], { numRuns: runs })("agrees with the age-encryption package for several recipients", async (data, n) => {
    const keys = await Promise.all(Array.from({ length: n }, () => generateAgeKey()));
    const e = new Encrypter();
    for (const k of keys) e.addRecipient(k.recipient);
    const file = await e.encrypt(data);
    const last = keys[n - 1]!;
    const d = new Decrypter();
    d.addIdentity(last.identity);
    expect(decryptAgeX25519(file, [nativeIdentity(last.identity)!])).toEqual({ kind: "ok", data: await d.decrypt(file) });
  });

  it("refuses a damaged header MAC and payload, and leaves other stanza types to the package", async () => {
    const a = await generateAgeKey();
    const id = nativeIdentity(a.identity)!;
    const text = armor.decode(armor.encode(execFileSync("age", ["-r", a.recipient], { input: Buffer.alloc(32) })));
    const s = Buffer.from(text);
    const macAt = s.indexOf("\n--- ") + 5;
    const badMac = Buffer.from(s);
    badMac[macAt] = badMac[macAt] === 65 ? 66 : 65;
    expect(decryptAgeX25519(badMac, [id])).toMatchObject({ kind: "corrupt" });
    const badPayload = Buffer.from(s);
    badPayload[badPayload.length - 1] = (badPayload[badPayload.length - 1] as number) ^ 1;
    expect(decryptAgeX25519(badPayload, [id])).toMatchObject({ kind: "corrupt" });
    const pq = await generateAgeKey({ postQuantum: true });
    const e = new Encrypter();
    e.addRecipient(pq.recipient);
    expect(decryptAgeX25519(await e.encrypt(new Uint8Array(32)), [id])).toEqual({ kind: "unknown" });
    expect(nativeIdentity(pq.identity)).toBeUndefined();
  });

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 })], { numRuns: runs })("keys read as JWK are the keys PKCS#8 and SPKI give", (scalar) => {
    // The JWK reading relies on Node taking a private key from `d` alone; this holds it to OpenSSL's own reading.
    const der = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), scalar]), format: "der", type: "pkcs8" });
    const spki = createPublicKey(der).export({ format: "der", type: "spki" });
    const ours = x25519PrivateKey(scalar);
    expect(ours.export({ format: "der", type: "pkcs8" })).toEqual(der.export({ format: "der", type: "pkcs8" }));
    expect(x25519RawPublic(ours)).toEqual(Buffer.from(spki.subarray(spki.length - 32)));
    expect(x25519PublicKey(x25519RawPublic(ours)).export({ format: "der", type: "spki" })).toEqual(spki);
  });
});

/** The native recipient of an `age1…` string, as wrapDataKey builds it. */
function recipientKey(r: string) {
  const publicKey = bech32.decodeToBytes(r).bytes;
  return { key: x25519PublicKey(publicKey), publicKey };
}

describe("native X25519 age encryption", () => {
  test.prop([fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ maxLength: 130 }), fc.uint8Array({ maxLength: 40 })], { numRuns: runs * 5 })("derives keys as Node's hkdfSync does, empty salt included", (ikm, salt, info) => {
    expect(hkdf32(ikm, salt, info)).toEqual(Buffer.from(hkdfSync("sha256", ikm, salt, info, 32)));
  });

  it("writes files the age CLI opens, binary and armored, from empty to one full chunk", async () => {
    const dir = tempDir();
    const k = await generateAgeKey();
    writeFileSync(join(dir, "key.txt"), `${k.identity}\n`);
    for (const n of [0, 1, 32, 33, 1000, NATIVE_MAX_PAYLOAD]) {
      const data = Buffer.alloc(n, n & 0xff);
      const file = encryptAgeX25519(data, recipientKey(k.recipient))!;
      expect(execFileSync("age", ["-d", "-i", join(dir, "key.txt")], { input: file, maxBuffer: 1 << 20 })).toEqual(data);
      expect(execFileSync("age", ["-d", "-i", join(dir, "key.txt")], { input: armorAge(file), maxBuffer: 1 << 20 })).toEqual(data);
    }
  });

  it("writes the header the spec describes: one X25519 stanza with a 32-byte share and body, then the MAC", async () => {
    const k = await generateAgeKey();
    const file = encryptAgeX25519(new Uint8Array(32), recipientKey(k.recipient))!;
    const header = file.subarray(0, file.indexOf("\n--- ") + 49).toString("latin1");
    expect(header).toMatch(/^age-encryption\.org\/v1\n-> X25519 [A-Za-z0-9+/]{43}\n[A-Za-z0-9+/]{43}\n--- [A-Za-z0-9+/]{43}\n$/);
    // 16-byte nonce, 32 bytes of data, 16-byte tag.
    expect(file.length - header.length).toBe(16 + 32 + 16);
  });

  it("uses a fresh file key, ephemeral share and payload nonce for every file", async () => {
    const k = await generateAgeKey();
    const a = encryptAgeX25519(new Uint8Array(32), recipientKey(k.recipient))!;
    const b = encryptAgeX25519(new Uint8Array(32), recipientKey(k.recipient))!;
    const parts = (f: Buffer) => {
      const t = f.toString("latin1");
      const end = t.indexOf("\n--- ") + 49;
      return [...t.slice(0, end).split("\n").slice(1, 4), f.subarray(end, end + 16).toString("hex")];
    };
    const [pa, pb] = [parts(a), parts(b)];
    for (let i = 0; i < pa.length; i++) expect(pa[i]).not.toBe(pb[i]);
  });

  test.prop([fc.uint8Array({ minLength: 0, maxLength: 200 })], { numRuns: runs })("is opened by the age-encryption package and by our own decryption", async (data) => {
    const k = await generateAgeKey();
    const file = encryptAgeX25519(data, recipientKey(k.recipient))!;
    const d = new Decrypter();
    d.addIdentity(k.identity);
    expect(await d.decrypt(file)).toEqual(data);
    expect(decryptAgeX25519(file, [nativeIdentity(k.identity)!])).toEqual({ kind: "ok", data });
    expect(decryptAgeX25519(file, [nativeIdentity((await generateAgeKey()).identity)!])).toEqual({ kind: "not-mine" });
  });

  test.prop([fc.uint8Array({ minLength: 0, maxLength: 300 })], { numRuns: runs })("armors exactly as the age-encryption package does", (bytes) => {
    expect(armorAge(bytes)).toBe(armor.encode(bytes));
  });

  it("leaves more than one STREAM chunk to the package, which wrapDataKey then uses", async () => {
    const k = await generateAgeKey();
    const big = new Uint8Array(NATIVE_MAX_PAYLOAD + 1).fill(9);
    expect(encryptAgeX25519(big, recipientKey(k.recipient))).toBeUndefined();
    expect(await unwrapDataKey(await wrapDataKey(big, k.recipient), await identitySetFrom([k.identity]))).toEqual(big);
  });

  it("refuses a recipient of small order, whose shared secret would be all zeros, with SOPS_INVALID_RECIPIENT", async () => {
    const zero = bech32.encode("age", bech32.toWords(new Uint8Array(32)));
    expect(() => encryptAgeX25519(new Uint8Array(32), recipientKey(zero))).toThrow(/small order/);
    const err = await wrapDataKey(new Uint8Array(32).fill(1), zero).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "SOPS_INVALID_RECIPIENT", data: { recipient: zero } });
    expect((err as Error).message).toContain(zero);
    expect((err as Error).message).toMatch(/point of small order/);
  });
});
