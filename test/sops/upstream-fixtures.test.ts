import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { manifest, VECTORS } from "../helpers/vectors.js";

interface Provenance {
  file: string;
  /** git's blob id of the file: `git rev-parse COMMIT:PATH` in the source repository gives the same. */
  blob: string;
  source?: { repo: string; commit: string; path: string; license: string };
  derived?: { from: string; how: string; license: string };
  written?: string;
  license?: string;
}

const provenance: Provenance[] = JSON.parse(readFileSync(join(VECTORS, "provenance.json"), "utf8")).files;

/** The id git gives a file's bytes (sha1 of "blob <size>\0" + bytes), so no git is needed here. */
function blobId(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

const LICENSES = new Set(["MPL-2.0", "MIT", "Apache-2.0"]);

describe("the upstream sops files copied into test/fixtures/sops-upstream", () => {
  it("lists every file in the folder, and only those, in provenance.json", () => {
    const onDisk = readdirSync(VECTORS, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(VECTORS.length + 1))
      .filter((f) => f !== "provenance.json")
      .sort();
    expect(provenance.map((p) => p.file).sort()).toEqual(onDisk);
  });

  it("keeps every file byte-identical to the version its provenance names", () => {
    for (const p of provenance) expect(blobId(readFileSync(join(VECTORS, p.file))), p.file).toBe(p.blob);
  });

  it("names a repository, commit, path and licence for each upstream file, and a licence text for each repository", () => {
    const repos = new Set<string>();
    for (const p of provenance) {
      if (p.source) {
        expect(p.source.repo, p.file).toMatch(/^[\w.-]+\/[\w.-]+$/);
        expect(p.source.commit, p.file).toMatch(/^[0-9a-f]{40}$/);
        expect(p.source.path, p.file).not.toBe("");
        expect(LICENSES.has(p.source.license), `${p.file}: ${p.source.license}`).toBe(true);
        repos.add(p.source.repo);
      } else if (p.derived) {
        // A plaintext decoded from an upstream file carries that file's licence.
        const from = provenance.find((q) => q.file === p.derived?.from);
        expect(from?.source?.license, p.file).toBe(p.derived.license);
      } else {
        expect(p.written, p.file).toBeTruthy();
      }
    }
    for (const repo of repos) expect(provenance.some((p) => p.file.startsWith(`LICENSES/${repo.replace("/", "-")}.`)), repo).toBe(true);
  });

  it("agrees with the test manifest on where each age vector comes from", () => {
    for (const v of manifest as (typeof manifest[number] & { source: Provenance["source"] })[]) {
      expect(provenance.find((p) => p.file === v.file)?.source, v.file).toEqual(v.source);
    }
  });
});
