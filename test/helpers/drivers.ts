import { join } from "node:path";
import { setConfigValue } from "../../src/config/edit.js";
import { addKey, createEnv, createProject, initRepo } from "../../src/meta/repo.js";
import type { IdentitySet } from "../../src/sops/identities.js";
import { git, tempDir } from "./gitdir.js";

/** The keys of the git-driver tests' meta repos: admin (admins), alice (developers), prod-server (prod-servers). */
export interface DriverKeys {
  admin: { recipient: string };
  alice: { recipient: string };
  server: { recipient: string };
  adminIds: IdentitySet;
}

/**
 * A meta repo for the git drivers' tests: the three principals, project shop with prod (and
 * `envs`' others), prod holding db.url, db.pool and api.token, a git identity set.
 */
export async function driversRepo(k: DriverKeys, envs: string[] = ["prod"]): Promise<string> {
  const dir = join(tempDir(), "meta");
  await initRepo(dir);
  await addKey(dir, "admin", [k.admin.recipient], { group: "admins", identities: k.adminIds });
  await addKey(dir, "alice", [k.alice.recipient], { group: "developers", identities: k.adminIds });
  await addKey(dir, "prod-server", [k.server.recipient], { group: "prod-servers", identities: k.adminIds });
  await createProject(dir, "shop");
  for (const env of envs) await createEnv(dir, "shop", env);
  for (const [key, v] of [["db.url", "postgres://a"], ["db.pool", 5n], ["api.token", "s3cret-token"]] as const) await setConfigValue(dir, { project: "shop", env: "prod" }, key, v, { identities: k.adminIds });
  git(dir, "config", "user.name", "Test Author");
  git(dir, "config", "user.email", "author@test.invalid");
  return dir;
}
