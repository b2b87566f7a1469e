// Decrypting a 500-key YAML file in-process: boot-meta's engine against the sops-age npm
// package on the same file, and against the floor — one X25519 unwrap of the data key plus
// the AES-256-GCM work for the 500 values, with nothing else.
import { createDecipheriv } from "node:crypto";
import { armor, generateIdentity, identityToRecipient } from "age-encryption";
import { decryptSops } from "sops-age";
import { parse } from "yaml";
import { encryptBytes, openBytes } from "../dist/sops/engine.js";
import { identitySetFrom } from "../dist/sops/identities.js";
import { decryptAgeX25519, nativeIdentity } from "../dist/sops/age-x25519.js";
import { fmtMs, measure, table } from "./harness.mjs";

const KEYS = 500;
const identity = await generateIdentity();
const recipient = await identityToRecipient(identity);
const lines = [];
for (let i = 0; i < KEYS; i++) lines.push(`key_${String(i).padStart(3, "0")}: value number ${i} with some length to it`);
const plain = Buffer.from(`${lines.join("\n")}\n`);
const encrypted = await encryptBytes(plain, { format: "yaml", keyGroups: [[recipient]] });
const text = Buffer.from(encrypted).toString("utf8");
const ids = await identitySetFrom([identity]);

// The floor: the same cryptographic work done directly, with the fastest unwrap available
// (Node's native X25519 + HKDF + ChaCha20-Poly1305, as boot-meta itself uses).
const doc = parse(text);
const enc = doc.sops.age[0].enc;
const values = Object.entries(doc).filter(([k]) => k !== "sops").map(([k, v]) => {
  const m = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]/.exec(v);
  return { aad: Buffer.from(`${k}:`), data: Buffer.from(m[1], "base64"), iv: Buffer.from(m[2], "base64"), tag: Buffer.from(m[3], "base64") };
});
const native = nativeIdentity(identity);
async function floor() {
  const r = decryptAgeX25519(armor.decode(enc), [native]);
  const key = r.data;
  for (const v of values) {
    const c = createDecipheriv("aes-256-gcm", key, v.iv);
    c.setAAD(v.aad);
    c.setAuthTag(v.tag);
    Buffer.concat([c.update(v.data), c.final()]);
  }
}

const ours = async () => openBytes(encrypted, { format: "yaml", identities: ids, pgp: false });
const theirs = async () => decryptSops(text, { secretKey: identity, fileType: "yaml" });

// Same answer from both before timing anything.
const a = (await ours()).tree[0].get("key_042");
const b = (await theirs()).key_042;
if (a !== b) throw new Error(`contenders disagree: ${a} vs ${b}`);

const r = await measure({ "boot-meta": ours, "sops-age": theirs, floor });
console.log(`decrypt a ${KEYS}-key YAML file (${(encrypted.length / 1024).toFixed(0)} KiB), median per file:`);
table([
  ["contender", "time", "ratio"],
  ["boot-meta openBytes", fmtMs(r["boot-meta"]), "1.00"],
  ["sops-age decryptSops", fmtMs(r["sops-age"]), `${(r["sops-age"] / r["boot-meta"]).toFixed(2)}× boot-meta's time`],
  ["floor (native X25519 unwrap + AES-GCM only)", fmtMs(r.floor), `boot-meta takes ${(r["boot-meta"] / r.floor).toFixed(2)}× this`],
]);
console.log(`\nboot-meta: ${(r["sops-age"] / r["boot-meta"]).toFixed(1)}× faster than sops-age, ${(r["boot-meta"] / r.floor).toFixed(2)}× the floor.`);
console.log(`(the floor itself is ${(r["sops-age"] / r.floor).toFixed(1)}× faster than sops-age: no decoder can beat sops-age by more than that)`);
