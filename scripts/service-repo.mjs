// A meta repo as a service at start-up reads one: a project (shop) with one env (prod) holding a
// few values, readable by the age key given. bench/startup.bench.mjs measures a first load on it;
// scripts/code-cache.mjs warms the code cache up with it. Built with the library from `dist`.
import { join } from "node:path";

/** Makes the repo at `dir` for `key` ({ identity, recipient }) with `values` ([dotted key, value] pairs) in shop/prod. */
export async function serviceRepo(dist, dir, key, values, author) {
  const { identitySetFrom } = await import(join(dist, "sops/identities.js"));
  const { initRepo, addKey, createProject, createEnv } = await import(join(dist, "meta/repo.js"));
  const { setConfigValue } = await import(join(dist, "config/edit.js"));
  const o = { author };
  const ids = await identitySetFrom([key.identity]);
  await initRepo(dir, o);
  await addKey(dir, "svc", [key.recipient], { ...o, group: "admins", identities: ids });
  await createProject(dir, "shop", o);
  await createEnv(dir, "shop", "prod", o);
  for (const [k, v] of values) await setConfigValue(dir, { project: "shop", env: "prod" }, k, v, { ...o, identities: ids });
}
