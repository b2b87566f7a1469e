import { BootMetaError, isBootMetaError } from "../errors.js";
import { withoutBinding } from "../meta/binding.js";
import type { CheckExtension, Finding } from "../meta/commit-check.js";
import { CONFIG_FILE, layersFor, parseGovernedPath, projectFile, SCHEMA_FILE, schemaFile } from "../meta/layout.js";
import type { Reader } from "../meta/reader.js";
import { openBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { Branch, toPlain } from "../sops/tree.js";
import type { Plain } from "./merge.js";
import type { SchemaLayer } from "./schema.js";

/**
 * The schema part of `boot-meta check` (src/meta/commit-check.ts cannot import src/config: it
 * ranks below it, so the command hands this in). For every project whose `schema.json` or
 * config layers the checked paths touch, the merged config of each env those files feed must
 * satisfy `<project>/schema.json` — as far as the committer's key opens the layers: an env
 * with a layer the key cannot open is skipped with a note, never a finding (the loader checks
 * it for whoever can read it). Findings name the key and the layer, never a value.
 */

/** Which envs of which projects the paths touch: every env for a schema or defaults change, else the env (and its developers for `dev`). */
async function touched(reader: Reader, paths: readonly string[]): Promise<Map<string, Set<string> | "all">> {
  const out = new Map<string, Set<string> | "all">();
  const all = (project: string) => out.set(project, "all");
  const one = (project: string, env: string) => {
    const cur = out.get(project);
    if (cur === "all") return;
    out.set(project, (cur ?? new Set<string>()).add(env));
  };
  for (const path of paths) {
    if (path.endsWith(`/${SCHEMA_FILE}`)) {
      const project = path.slice(0, -SCHEMA_FILE.length - 1);
      if ((await reader.read(projectFile(project))) !== undefined) all(project);
      continue;
    }
    const g = parseGovernedPath(path);
    if (!g || g.name !== CONFIG_FILE) continue;
    if (g.env === undefined) all(g.project);
    else one(g.project, g.env);
  }
  return out;
}

/** The envs a project has (each folder under envs/ with a config.sops.yaml), sorted. */
async function envsOf(reader: Reader, project: string): Promise<string[]> {
  const prefix = `${project}/envs/`;
  const suffix = `/${CONFIG_FILE}`;
  return (await reader.list(`${project}/envs`)).filter((f) => f.startsWith(prefix) && f.endsWith(suffix)).map((f) => f.slice(prefix.length, -suffix.length)).sort();
}

/**
 * The check's schema extension. `identities` is called at most once, and only when a checked
 * path concerns a project's config or schema; a committer without any key gets notes, no error.
 */
export function schemaCheck(identities: () => Promise<IdentitySet | undefined>): CheckExtension {
  return async ({ reader, paths }) => {
    const findings: Finding[] = [];
    const notes: string[] = [];
    const projects = await touched(reader, paths);
    let ids: IdentitySet | undefined | null = null;
    for (const [project, which] of [...projects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const schema = await reader.read(schemaFile(project));
      if (schema === undefined) continue;
      const envs = (await envsOf(reader, project)).filter((e) => which === "all" || which.has(e) || (which.has("dev") && e.startsWith("dev/")));
      if (envs.length === 0) continue;
      if (ids === null) ids = await identities();
      if (!ids || ids.identities.length === 0) {
        notes.push(`${schemaFile(project)} not checked: no age identity was found to open ${project}'s config (set SOPS_AGE_KEY_FILE or pass --identity)`);
        continue;
      }
      const { checkProjectSchema } = await import("./schema.js");
      for (const env of envs) {
        const layers: SchemaLayer[] = [];
        let skipped: string | undefined;
        for (const l of layersFor(project, env)) {
          const bytes = await reader.read(l.path);
          if (!bytes) continue;
          try {
            const f = await openBytes(bytes, { format: "yaml", identities: ids, path: l.path, pgp: false });
            layers.push({ ...l, value: toPlain(withoutBinding(f.tree)[0] ?? new Branch()) as Plain });
          } catch (e) {
            // A layer the committer cannot open (or one the other findings already refuse) leaves the env to its readers.
            if (!(e instanceof BootMetaError)) throw e;
            skipped = e.code === "SOPS_DATA_KEY_UNAVAILABLE" ? `${l.path} is not encrypted to your key` : `${l.path} cannot be opened (${e.code})`;
            break;
          }
        }
        if (skipped !== undefined) {
          notes.push(`${project} ${env} not checked against ${schemaFile(project)}: ${skipped}`);
          continue;
        }
        try {
          for (const v of checkProjectSchema({ project, schema, layers })) {
            const where = v.layer ? `set in the ${v.layer} layer, ${v.path}` : "no layer sets it";
            findings.push({
              path: v.path ?? schemaFile(project),
              kind: "schema",
              what: `the config of ${project} ${env} does not satisfy ${schemaFile(project)}: ${v.key || "(the whole config)"} ${v.message} (${where})`,
              fix: `change the value in the layer named (\`boot-meta config set KEY VALUE -p ${project} -e ${env}\`), or change ${schemaFile(project)}`,
            });
          }
        } catch (e) {
          if (!isBootMetaError(e, "CONFIG_SCHEMA_BAD")) throw e;
          findings.push({ path: schemaFile(project), kind: "schema", what: e.message, fix: e.suggestions[0] ?? `fix ${schemaFile(project)}` });
          break;
        }
      }
    }
    return { findings, notes };
  };
}
