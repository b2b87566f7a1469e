import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openBytes } from "../../src/sops/engine.js";
import { loadIdentities } from "../../src/sops/identities.js";
import { tempDir } from "../helpers/gitdir.js";
import { gnupgHomeWithTestKey, humphdVectors, killGpgAgent, manifest, pgpVectors, plainOf, readExpected, VECTORS } from "../helpers/vectors.js";

/** Identities exactly as sops finds them: SOPS_AGE_KEY_FILE, with an empty home so nothing else leaks in. */
async function identitiesFrom(keyFile: string) {
  return loadIdentities({ env: { SOPS_AGE_KEY_FILE: join(VECTORS, keyFile) }, homeDir: tempDir() });
}

function expectedOf(rel: string): unknown {
  return rel.endsWith(".plain") ? readFileSync(join(VECTORS, rel)) : readExpected(rel);
}

function actualOf(tree: Parameters<typeof plainOf>[0], format: string): unknown {
  if (format !== "binary") return plainOf(tree);
  return Buffer.from(tree[0]?.get("data") as Uint8Array);
}

describe("files written by the sops binary (test/fixtures/sops-upstream manifest)", () => {
  for (const v of manifest) {
    for (const key of v.keys) {
      it(`${v.expect === "ok" ? "opens" : "refuses"} ${v.file} (sops ${v.sops_version}) with ${key}`, async () => {
        const bytes = readFileSync(join(VECTORS, v.file));
        const opening = openBytes(bytes, { format: v.format, identities: await identitiesFrom(key), path: v.file, pgp: false });
        if (v.expect === "mac-mismatch") {
          await expect(opening).rejects.toMatchObject({ code: "SOPS_MAC_MISMATCH", exitCode: 51 });
          return;
        }
        if (v.expect === "value-auth-fail") {
          await expect(opening).rejects.toMatchObject({ code: "SOPS_VALUE_AUTH_FAILED" });
          return;
        }
        const f = await opening;
        expect(actualOf(f.tree, v.format)).toEqual(expectedOf(v.expected as string));
      });
    }
  }
});

describe("humphd/sops-age files (age, 3.9.2)", () => {
  for (const v of humphdVectors) {
    it(`opens ${v.file}`, async () => {
      const f = await openBytes(readFileSync(join(VECTORS, v.file)), { format: v.format, identities: await identitiesFrom("humphd-sops-age/key.txt"), path: v.file, pgp: false });
      expect(plainOf(f.tree)).toEqual(readExpected(v.expected));
    });
  }
});

describe("sops' own test files (data key wrapped for PGP, unwrapped by the real gpg)", () => {
  const home = gnupgHomeWithTestKey();
  afterAll(() => killGpgAgent(home));
  const noAge = { identities: [], recipients: [], searched: [] };

  for (const v of pgpVectors) {
    it(`${v.expect === "ok" ? "opens" : "refuses"} ${v.file}`, async () => {
      const bytes = readFileSync(join(VECTORS, v.file));
      const o = { format: v.format, identities: noAge, path: v.file, pgp: { gnupgHome: home } } as const;
      if (v.expect === "no-mac") {
        await expect(openBytes(bytes, o)).rejects.toMatchObject({ code: "SOPS_MAC_MISMATCH", message: expect.stringContaining("no MAC") });
        // sops --ignore-mac reads it anyway.
        const f = await openBytes(bytes, { ...o, ignoreMac: true });
        expect(f.tree.length).toBeGreaterThan(0);
        return;
      }
      const f = await openBytes(bytes, o);
      if (v.expected) expect(actualOf(f.tree, v.format)).toEqual(expectedOf(v.expected));
      else expect(f.tree[0]?.items.length).toBeGreaterThan(0);
    });
  }
});

describe("a PGP-wrapped file without gpg", () => {
  it("says gpg is missing rather than only that no identity matched", async () => {
    const bytes = readFileSync(join(VECTORS, "getsops-sops/example.yaml"));
    const e = await openBytes(bytes, { format: "yaml", identities: { identities: [], recipients: [], searched: [] }, pgp: { env: { PATH: "/nonexistent" } } }).catch((x) => x);
    expect(e).toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE" });
    expect(JSON.stringify(e.data.problems)).toMatch(/pgp FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4: .*gpg/i);
  });
});
