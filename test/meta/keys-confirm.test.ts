import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addKey, initRepo } from "../../src/meta/repo.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { git, tempDir } from "../helpers/gitdir.js";

const author = "Admin <admin@test.invalid>";

describe("keys add confirms inside the write what a person was shown", () => {
  it("refuses a concern nobody confirmed, accepts the ones that were, and checks against the state it writes on", async () => {
    const meta = join(tempDir(), "meta");
    await initRepo(meta, { author });
    const admin = await generateAgeKey();
    const ids = await identitySetFrom([admin.identity]);
    await addKey(meta, "admin", [admin.recipient], { group: "admins", identities: ids, author, confirm: [] });
    const head = git(meta, "rev-parse", "HEAD");
    const qa = await generateAgeKey();
    // A group the rules do not have, not confirmed: nothing is written.
    await expect(addKey(meta, "tester", [qa.recipient], { group: "qa", identities: ids, author, confirm: [] })).rejects.toMatchObject({ code: "KEYS_ADD_NOT_CONFIRMED" });
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    // Confirmed as shown: written.
    await addKey(meta, "tester", [qa.recipient], { group: "qa", identities: ids, author, confirm: ["unknown-group:qa"] });
    // What was confirmed covers only what was shown: a key someone else holds by now is asked about.
    await expect(addKey(meta, "tester2", [qa.recipient], { group: "qa", identities: ids, author, confirm: ["unknown-group:qa"] })).rejects.toMatchObject({
      code: "KEYS_ADD_NOT_CONFIRMED",
      data: { concerns: [expect.objectContaining({ kind: "key-held", by: "tester" })] },
    });
  });
});
