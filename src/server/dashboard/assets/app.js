// The boot-meta dashboard: read-only views over the service's JSON API, redrawn when the change
// stream (/v1/events) says the served branch moved. Plain ES module, no build step. Every value
// from the API reaches the page as text (textContent), never as markup.

const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
const commitEl = document.getElementById("commit");
const liveEl = document.getElementById("live");
const TOKEN_KEY = "boot-meta.instances-token";

/** An element: h("a", { href }, "text", child, …). Attributes are set as properties or attributes; children as text or nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === "style") el.style.cssText = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const enc = encodeURIComponent;
const short = (s, n = 8) => (s ? String(s).slice(0, n) : "");
const when = (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "");
const size = (n) => (n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const releaseLink = (project, id, version) => (id ? h("a", { href: `#/p/${enc(project)}/r/${enc(id)}`, title: id }, version || id) : h("span", { class: "muted" }, "none"));
/** "Name <email>" as its name, the whole of it in the title. */
const who = (author) => (author ? h("span", { title: author }, String(author).replace(/\s*<[^>]*>$/, "")) : null);
const healthClass = (hl) => (hl === "healthy" ? "ok" : hl === "unhealthy" || hl === "failed" ? "bad" : "warn");

class HttpError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

/** GET a JSON route of this service; the served commit goes to the header. */
async function api(path, headers = {}) {
  const res = await fetch(path, { headers: { accept: "application/json", ...headers }, cache: "no-store" });
  const body = await res.json().catch(() => undefined);
  if (!res.ok) throw new HttpError(res.status, body);
  // Until the change stream names a commit, the first answers do. After that the stream does:
  // an answer to a draw that a newer one overtook may arrive late, and would name an older commit.
  if (body?.commit && streamCommit === undefined) showCommit(body.commit);
  return body;
}

/** The newest commit the change stream announced (undefined before the first, and after a reset). */
let streamCommit;

function showCommit(commit) {
  commitEl.textContent = short(commit, 10);
  commitEl.title = `The commit the service serves: ${commit}`;
}

function setCrumbs(...parts) {
  crumbs.replaceChildren(...parts.flatMap((p, i) => (i ? [h("span", { class: "sep" }, "/"), p] : [p])));
}

// ---- pages ----------------------------------------------------------------------------

async function projectsPage() {
  setCrumbs(h("span", {}, "Projects"));
  const { projects } = await api("/v1/projects");
  return [
    h("h1", {}, "Projects"),
    projects.length === 0
      ? h("p", { class: "muted" }, "No project yet: `boot-meta project create NAME`.")
      : h("div", { class: "grid" }, projects.map((p) =>
          h("div", { class: "card project" },
            h("h3", {}, h("a", { href: `#/p/${enc(p.name)}` }, p.name)),
            h("div", { class: "muted" }, `${p.channels} channels · ${p.releases} releases · `, h("a", { href: `#/p/${enc(p.name)}/fleet` }, `${p.instances} instances`)),
          ))),
  ];
}

function rolloutView(project, c) {
  const pct = c.rollout?.previousReleaseId ? c.rollout.percent : 100;
  return h("div", {},
    h("div", { class: "bar", title: `${pct}% of the channel's instances get ${c.version ?? c.releaseId}` }, h("span", { style: `width:${pct}%` })),
    h("div", { class: "row muted" },
      h("span", { class: "percent" }, `${pct}%`),
      c.rollout?.previousReleaseId ? h("span", {}, "· the rest stay on ", releaseLink(project, c.rollout.previousReleaseId, c.previousVersion)) : null,
      h("span", {}, `· ${c.fleet.onRelease} of ${c.fleet.instances} instances`)));
}

function timeline(project, history) {
  return h("ol", { class: "timeline" }, history.map((e, i) =>
    h("li", { class: [i === 0 ? "first" : "", e.untrusted ? "untrusted" : ""].filter(Boolean).join(" ") },
      h("div", { class: "row" },
        h("strong", {}, e.to ? releaseLink(project, e.to, e.version) : "removed"),
        e.previousReleaseId ? h("span", { class: "chip" }, `${e.percent}%`) : null,
        e.restores ? h("span", { class: "chip warn" }, `rollback to #${e.restores}`) : null,
        e.untrusted ? h("span", { class: "chip bad untrusted", title: e.untrustedReason || "changed by a commit the rules do not allow" }, "untrusted") : null,
        h("span", { class: "muted" }, when(e.date))),
      h("div", { class: "muted" },
        e.from && e.from !== e.to ? `from ${short(e.from.split("-").slice(1).join("-") || e.from, 24)} · ` : "",
        who(e.author), " · ",
        e.signedBy ? `signed by ${e.signedBy}` : !e.unsignedReason || e.unsignedReason === "unsigned" ? "unsigned" : `not signed by a principal (${e.unsignedReason})`,
        " · ", h("span", { class: "mono", title: e.commit }, short(e.commit))))));
}

async function projectPage(project) {
  setCrumbs(h("a", { href: "#/" }, "Projects"), h("span", {}, project), h("a", { href: `#/p/${enc(project)}/fleet` }, "fleet"));
  const [{ channels }, { releases, total, more }] = await Promise.all([api(`/v1/projects/${enc(project)}/channels`), api(`/v1/projects/${enc(project)}/releases?limit=30`)]);
  const histories = await Promise.all(channels.map((c) => api(`/v1/projects/${enc(project)}/channels/${enc(c.name)}/history?limit=10`).then((x) => x.history, () => [])));
  // A release a channel gives, or the one the rest of a rolling-out channel stay on.
  const onChannels = new Map();
  const mark = (id, chip) => onChannels.set(id, [...(onChannels.get(id) ?? []), chip]);
  for (const c of channels) {
    mark(c.releaseId, h("span", { class: "chip ok" }, c.rollout?.previousReleaseId ? `${c.name} ${c.rollout.percent}%` : c.name));
    if (c.rollout?.previousReleaseId) mark(c.rollout.previousReleaseId, h("span", { class: "chip warn" }, `${c.name} (rest)`));
  }
  return [
    h("h1", {}, project),
    h("h2", {}, "Channels"),
    channels.length === 0
      ? h("p", { class: "muted" }, `No channel yet: \`boot-meta channel promote ${project} CHANNEL RELEASE\`.`)
      : h("div", { class: "grid" }, channels.map((c, i) =>
          h("section", { class: "card channel", "data-channel": c.name },
            h("div", { class: "row" }, h("h3", {}, c.name), h("span", { class: "muted" }, "→"), h("strong", { class: "current" }, releaseLink(project, c.releaseId, c.version))),
            rolloutView(project, c),
            c.gates ? h("div", { class: "row gates" }, h("span", { class: "muted" }, "gates:"), Object.entries(c.gates).map(([k, v]) => h("span", { class: "chip" }, `${k} ${v}`))) : null,
            h("div", { class: "muted" }, `updated ${when(c.updatedAt)}`, c.updatedBy ? [" by ", who(c.updatedBy)] : null),
            timeline(project, histories[i])))),
    h("h2", {}, `Releases (${total})`),
    h("table", { class: "releases" },
      h("thead", {}, h("tr", {}, h("th", {}, "Version"), h("th", {}, "Id"), h("th", {}, "Created"), h("th", {}, "Repos"), h("th", {}, "Channels"))),
      h("tbody", {}, releases.map((r) =>
        h("tr", {},
          h("td", {}, releaseLink(project, r.id, r.version)),
          h("td", { class: "mono muted" }, r.id),
          h("td", {}, when(r.createdAt), r.createdBy ? h("div", { class: "muted" }, who(r.createdBy)) : null),
          h("td", {}, (r.repos ?? []).map((x) => x.name).join(", ")),
          h("td", {}, onChannels.get(r.id) ?? []))))),
    more ? h("p", { class: "muted" }, `The newest ${releases.length} of ${total}: \`boot-meta release list ${project}\` pages through the rest.`) : null,
  ];
}

/** A record's field that a newer writer may add (imports): shown as it is, as text. */
function plainValue(v) {
  if (v === null || typeof v !== "object") return String(v);
  return Object.entries(v).map(([k, x]) => `${k}: ${typeof x === "object" ? JSON.stringify(x) : x}`).join(" · ");
}

async function releasePage(project, id) {
  setCrumbs(h("a", { href: "#/" }, "Projects"), h("a", { href: `#/p/${enc(project)}` }, project), h("span", {}, "release"));
  const [release, { binaries }, { channels }] = await Promise.all([
    api(`/v1/projects/${enc(project)}/releases/${enc(id)}`),
    api(`/v1/projects/${enc(project)}/releases/${enc(id)}/binaries`),
    api(`/v1/projects/${enc(project)}/channels`),
  ]);
  const here = channels.filter((c) => c.releaseId === release.id || c.rollout?.previousReleaseId === release.id);
  return [
    h("h1", {}, `${project} ${release.version}`),
    h("div", { class: "muted" }, h("span", { class: "mono" }, release.id), ` · created ${when(release.createdAt)}`, release.createdBy ? [" by ", who(release.createdBy)] : null),
    release.notes ? h("p", { class: "notes" }, release.notes) : null,
    h("div", { class: "row" }, h("span", { class: "muted" }, "Channels:"), here.length ? here.map((c) => h("span", { class: `chip ${c.releaseId === release.id ? "ok" : "warn"}` }, c.releaseId === release.id ? `${c.name} ${c.rollout?.previousReleaseId ? `${c.rollout.percent}%` : ""}` : `${c.name} (previous)`)) : h("span", { class: "muted" }, "on no channel")),
    h("h2", {}, "Repos"),
    h("table", { class: "repos" },
      h("thead", {}, h("tr", {}, h("th", {}, "Repo"), h("th", {}, "Commit"), h("th", {}, "Ref"), h("th", {}, "URL"))),
      h("tbody", {}, (release.repos ?? []).map((r) =>
        h("tr", {},
          h("td", {}, r.name, r.module ? h("div", { class: "muted mono" }, r.module) : null),
          h("td", { class: "mono", title: r.commit }, r.commit, r.dirty ? h("span", { class: "chip bad" }, "dirty") : null),
          h("td", {}, r.ref ?? ""),
          h("td", { class: "muted" }, r.url ?? ""))))),
    Array.isArray(release.imports) && release.imports.length
      ? [h("h2", {}, "Imports"), h("ul", { class: "imports" }, release.imports.map((x) => h("li", { class: "mono" }, plainValue(x))))]
      : null,
    h("h2", {}, "Binaries"),
    binaries.length === 0
      ? h("p", { class: "muted" }, `No binary recorded: \`boot-meta binary add ${project} FILE --release ${release.version} --os OS --arch ARCH --url URL\`.`)
      : h("table", { class: "binaries" },
          h("thead", {}, h("tr", {}, h("th", {}, "Platform"), h("th", {}, "SHA-256"), h("th", {}, "Size"), h("th", {}, "Stored at"), h("th", {}, "Signatures"))),
          h("tbody", {}, binaries.map((b) =>
            h("tr", {},
              h("td", { class: "nowrap" }, `${b.os}/${b.arch}`, h("div", { class: "muted" }, when(b.createdAt))),
              h("td", { class: "mono", title: b.sha256 }, short(b.sha256, 16), "…"),
              h("td", { class: "nowrap" }, size(b.size)),
              h("td", {}, b.sealed ? h("span", { class: "chip" }, `sealed to the readers of ${b.sealedEnv ?? project}`) : b.urls.map((u) => h("div", { class: "mono muted" }, u))),
              h("td", { class: "signatures" }, b.signatures.length === 0 ? h("span", { class: "chip warn" }, "unsigned") : b.signatures.map((s) =>
                h("div", {},
                  h("span", { class: `chip ${s.trustedKey ? "ok" : "bad"}`, title: s.trustedKey ? "its key is this signer's in keys/signers/ (check the file itself with `boot-meta binary verify FILE`)" : "its key is not in keys/signers/ under this name" }, `${s.signer ?? "unknown signer"} ${s.trustedKey ? "✓" : "✗"}`),
                  h("span", { class: "mono muted" }, s.fingerprint ?? "")))))))),
  ];
}

function instanceChip(i, live) {
  const health = live?.health ?? i.health ?? "unknown";
  return h("span", { class: `chip ${healthClass(health)}`, "data-instance": i.id, title: [`${i.id}: ${i.status ?? "no status"}, ${health}`, i.channel ? `channel ${i.channel}` : "", live?.lastSeen ? `last seen ${when(live.lastSeen)}` : ""].filter(Boolean).join(" · ") }, i.id);
}

async function livenessOf(project) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return { state: "no-token" };
  try {
    const r = await api(`/v1/projects/${enc(project)}/instances`, { authorization: `Bearer ${token}` });
    return { state: "ok", byId: new Map(r.instances.filter((x) => x.liveness).map((x) => [x.id, x.liveness])) };
  } catch (e) {
    return { state: "refused", message: e.message };
  }
}

function tokenForm(project, liveness) {
  const input = h("input", { type: "password", name: "token", placeholder: "bmt_… token with instances:read", autocomplete: "off", size: 34 });
  return h("form", { class: "token", onsubmit: (ev) => {
    ev.preventDefault();
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    else sessionStorage.removeItem(TOKEN_KEY);
    refresh();
  } },
    h("span", { class: "muted" }, liveness.state === "refused" ? `Liveness refused: ${liveness.message}` : "What instances last reported needs a token with instances:read (kept in this tab only):"),
    input, h("button", { type: "submit" }, "Use"));
}

async function fleetPage(project) {
  setCrumbs(h("a", { href: "#/" }, "Projects"), h("a", { href: `#/p/${enc(project)}` }, project), h("span", {}, "fleet"));
  const [fleet, liveness] = await Promise.all([api(`/v1/projects/${enc(project)}/fleet`), livenessOf(project)]);
  const live = liveness.byId ?? new Map();
  return [
    h("h1", {}, `${project} fleet`),
    h("p", { class: "muted" }, `${fleet.total} instances recorded`, liveness.state === "ok" ? `, ${live.size} reporting to this service` : ""),
    liveness.state === "ok" ? null : tokenForm(project, liveness),
    h("h2", {}, `Lagging the rollout (${fleet.lagging.length})`),
    fleet.lagging.length === 0
      ? h("p", { class: "muted lagging-none" }, "Every instance runs what its channel gives it.")
      : h("table", { class: "lagging" },
          h("thead", {}, h("tr", {}, h("th", {}, "Instance"), h("th", {}, "Channel"), h("th", {}, "Runs"), h("th", {}, "Should run"))),
          h("tbody", {}, fleet.lagging.map((l) => h("tr", { "data-instance": l.id }, h("td", {}, l.id), h("td", {}, l.channel), h("td", {}, releaseLink(project, l.runs, l.runsVersion)), h("td", {}, releaseLink(project, l.wants, l.wantsVersion)))))),
    h("h2", {}, "By release and health"),
    fleet.byRelease.length === 0 ? h("p", { class: "muted" }, "No instance has reported yet.") : h("div", { class: "grid" }, fleet.byRelease.map((g) => {
      const byHealth = new Map();
      for (const i of g.instances) {
        const k = live.get(i.id)?.health ?? i.health ?? "unknown";
        byHealth.set(k, [...(byHealth.get(k) ?? []), i]);
      }
      return h("section", { class: "card release-group", "data-release": g.releaseId },
        h("h3", {}, releaseLink(project, g.releaseId, g.version), h("span", { class: "muted" }, ` · ${g.instances.length}`)),
        [...byHealth].sort().map(([health, list]) => h("div", { class: "row" }, h("span", { class: `muted` }, `${health}:`), list.map((i) => instanceChip(i, live.get(i.id))))));
    })),
  ];
}

// ---- routing, refresh, live updates --------------------------------------------------

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "p" && parts[1]) {
    const project = parts[1];
    if (parts[2] === "r" && parts[3]) return { project, render: () => releasePage(project, parts[3]) };
    if (parts[2] === "fleet") return { project, render: () => fleetPage(project) };
    return { project, render: () => projectPage(project) };
  }
  return { project: undefined, render: projectsPage };
}

let current = route();
let drawing = 0;

/** Draws the page the hash names; a newer draw that finished first wins. */
async function refresh() {
  const n = ++drawing;
  current = route();
  view.setAttribute("aria-busy", "true");
  try {
    const nodes = await current.render();
    if (n !== drawing) return;
    view.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
    view.dataset.drawn = String(Number(view.dataset.drawn ?? 0) + 1);
  } catch (e) {
    if (n !== drawing) return;
    view.replaceChildren(h("p", { class: "error" }, e.message), e.status === 404 ? h("p", {}, h("a", { href: "#/" }, "All projects")) : null);
  } finally {
    if (n === drawing) view.setAttribute("aria-busy", "false");
  }
}

let timer;
/** Many commits in a burst (a batch of reports, a captain's waves) redraw once. */
function refreshSoon() {
  clearTimeout(timer);
  timer = setTimeout(refresh, 300);
}

function setLive(on, text) {
  liveEl.className = `live ${on ? "on" : "off"}`;
  liveEl.textContent = text;
}

function subscribe() {
  // EventSource reconnects by itself (the service asks for 2 s) and resumes with Last-Event-ID.
  const es = new EventSource("/v1/events");
  es.addEventListener("open", () => setLive(true, "live"));
  es.addEventListener("error", () => setLive(false, es.readyState === EventSource.CLOSED ? "offline" : "reconnecting…"));
  es.addEventListener("change", (ev) => {
    let c;
    try {
      c = JSON.parse(ev.data);
    } catch {
      c = undefined;
    }
    streamCommit = c?.commit ?? ev.lastEventId;
    showCommit(streamCommit);
    // On a project's pages only its own changes matter; the projects page follows every change.
    if (!current.project || !c || c.projects.includes(current.project)) refreshSoon();
  });
  es.addEventListener("reset", () => {
    streamCommit = undefined;
    refreshSoon();
  });
  es.addEventListener("shutdown", () => setLive(false, "reconnecting…"));
}

// What instances report without changing state (liveness) makes no commit: the fleet page asks again now and then.
setInterval(() => {
  if (location.hash.endsWith("/fleet") && sessionStorage.getItem(TOKEN_KEY) && !document.hidden) refreshSoon();
}, 30_000);

window.addEventListener("hashchange", refresh);
refresh();
subscribe();
