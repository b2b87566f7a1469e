import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// vendor/flagd-schemas holds flagd's published schemas byte for byte; provenance.json says
// where each file comes from, and this holds the copies to the blob ids git gives upstream's.
const DIR = join(import.meta.dirname, "../../vendor/flagd-schemas");

interface Entry {
  file: string;
  blob: string;
  source: { repo: string; commit: string; path: string; license: string };
}

/** The id git gives a file's bytes (sha1 of "blob <size>\0" + bytes), so no git is needed here. */
function blobId(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

describe("the vendored flagd schemas", () => {
  const provenance = JSON.parse(readFileSync(join(DIR, "provenance.json"), "utf8")) as { files: Entry[] };

  it("are upstream's files, unchanged, each with its repository, commit, path and licence", () => {
    expect(provenance.files.map((f) => f.file).sort()).toEqual(["LICENSE", "flags.json", "targeting.json"]);
    for (const f of provenance.files) {
      expect(blobId(readFileSync(join(DIR, f.file))), f.file).toBe(f.blob);
      expect(f.source).toMatchObject({ repo: "open-feature/flagd-schemas", commit: expect.stringMatching(/^[0-9a-f]{40}$/), license: "Apache-2.0" });
    }
  });

  it("name each other by the $id the validator resolves", () => {
    expect(JSON.parse(readFileSync(join(DIR, "flags.json"), "utf8")).$id).toBe("https://flagd.dev/schema/v0/flags.json");
    expect(JSON.parse(readFileSync(join(DIR, "targeting.json"), "utf8")).$id).toBe("https://flagd.dev/schema/v0/targeting.json");
  });
});
