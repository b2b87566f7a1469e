import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { setConfigValue } from "../../src/config/edit.js";
import { addKey, createEnv, createProject, initRepo } from "../../src/meta/repo.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { git, tempDir } from "./gitdir.js";

/** Plaintext the fixture puts in its config: no response or log line may ever hold it. */
export const SECRET_VALUE = "pa55-Plaintext-Never-Served-7f3a";

/**
 * A meta repo for the service's tests: project shop with dev and prod (prod's db_password is
 * SECRET_VALUE), an admin key, pushed to a bare remote (the service's source) whose work
 * clone `work` makes new commits and pushes them with `commitAndPush`.
 */
export async function serviceFixture() {
  const admin = await generateAgeKey();
  const ids = await identitySetFrom([admin.identity]);
  const work = join(tempDir(), "meta");
  await initRepo(work);
  await addKey(work, "admin", [admin.recipient], { group: "admins", identities: ids });
  await createProject(work, "shop");
  await createEnv(work, "shop", "dev");
  await createEnv(work, "shop", "prod");
  await setConfigValue(work, { project: "shop", env: "prod" }, "db_password", SECRET_VALUE, { identities: ids });
  await setConfigValue(work, { project: "shop", env: "dev" }, "color", "blue", { identities: ids });
  await setConfigValue(work, { project: "shop" }, "timeout", "10", { identities: ids });
  const bare = join(tempDir(), "meta.git");
  git(tempDir(), "clone", "-q", "--bare", work, bare);
  git(work, "remote", "add", "origin", bare);
  git(work, "fetch", "-q", "origin");
  git(work, "branch", "-q", "--set-upstream-to=origin/main", "main");
  return {
    admin,
    ids,
    work,
    bare,
    /** Sets a value in shop's env and pushes the commit; returns its hash. */
    async set(env: string, key: string, value: string | bigint): Promise<string> {
      await setConfigValue(work, { project: "shop", env }, key, value, { identities: ids });
      git(work, "push", "-q", "origin", "main");
      return git(work, "rev-parse", "HEAD");
    },
  };
}

/** A pino logger whose lines are kept in `lines` (to check that nothing secret is logged). */
export function capturedLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "trace" }, sink), lines };
}

/** Reads Server-Sent Events from a fetch response until `until` says stop (or the stream ends). */
export async function readEvents(res: Response, until: (events: SseEvent[]) => boolean): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      if (until(events)) return events;
      const { value, done } = await reader.read();
      if (done) return events;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const e: SseEvent = { event: "message", data: "" };
        let data: string[] | undefined;
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const [k, ...rest] = line.split(":");
          const v = rest.join(":").replace(/^ /, "");
          if (k === "id") e.id = v;
          else if (k === "event") e.event = v;
          else if (k === "data") (data ??= []).push(v);
        }
        if (data === undefined) continue;
        e.data = data.join("\n");
        events.push(e);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * A new meta repo (not pushed) with an admin and the service's own principal, meta-server, in
 * prod-servers: for tests of what the service does with `--identity` (OFREP, outbound webhooks).
 */
export async function repoWithServicePrincipal() {
  const admin = await generateAgeKey();
  const server = await generateAgeKey();
  const ids = await identitySetFrom([admin.identity]);
  const work = join(tempDir(), "meta");
  await initRepo(work);
  await addKey(work, "admin", [admin.recipient], { group: "admins", identities: ids });
  await addKey(work, "meta-server", [server.recipient], { group: "prod-servers", identities: ids });
  return { admin, server, ids, work };
}
