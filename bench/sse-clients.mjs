// The subscribers of fanout.bench.mjs, a process of its own: N Server-Sent Events streams on
// `GET /v1/events` of one `boot-meta serve`, over keep-alive connections (one http.Agent, a
// socket each). It also sends the inbound webhook itself, so that the webhook's send time and
// every stream's arrival time are read from one clock.
//   BOOT_META_WEBHOOK_SECRET=… node bench/sse-clients.mjs '{"url":"http://127.0.0.1:8080","subscribers":1000}'
// Prints {"ready":N} once every stream is open; then, for each line "fire COMMIT" on stdin,
// POSTs a GitHub push webhook signed with the secret (from the environment, as the service's) (X-Hub-Signature-256) and prints one JSON
// line when every stream has had COMMIT's change event (or after 30 s): the milliseconds from
// sending the webhook to its 202, and to each stream's event.
import { createHmac } from "node:crypto";
import http from "node:http";
import { createInterface } from "node:readline";

const o = JSON.parse(process.argv[2]);
const secret = process.env.BOOT_META_WEBHOOK_SECRET ?? "";
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const streams = [];
let waiting; // { commit, t0, times: Map<stream index, ms>, done }

function open(i) {
  return new Promise((resolve, reject) => {
    const req = http.get(`${o.url}/v1/events`, { agent, headers: { accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`stream ${i}: HTTP ${res.statusCode}`));
      res.setEncoding("utf8");
      let buf = "";
      res.on("data", (chunk) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const ev = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const id = /^id: (.*)$/m.exec(ev)?.[1];
          if (waiting && id === waiting.commit && /^event: change$/m.test(ev) && !waiting.times.has(i)) {
            waiting.times.set(i, performance.now() - waiting.t0);
            if (waiting.times.size === streams.length) waiting.done();
          }
        }
      });
      res.on("end", () => console.error(`stream ${i} ended`));
      streams.push(res);
      resolve();
    });
    req.on("error", reject);
  });
}

// In batches, so that the server's accept backlog is never the limit.
for (let i = 0; i < o.subscribers; i += 100) await Promise.all(Array.from({ length: Math.min(100, o.subscribers - i) }, (_, k) => open(i + k)));
process.stdout.write(`${JSON.stringify({ ready: streams.length })}\n`);

function fire(commit) {
  const body = JSON.stringify({ ref: "refs/heads/main", after: commit, repository: { full_name: "bench/meta" } });
  const sig = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  return new Promise((resolve) => {
    let timer;
    waiting = {
      commit,
      times: new Map(),
      done: () => {
        clearTimeout(timer);
        resolve();
      },
    };
    timer = setTimeout(waiting.done, 30_000);
    waiting.t0 = performance.now();
    const req = http.request(`${o.url}/v1/hooks/github`, { method: "POST", headers: { "content-type": "application/json", "x-github-event": "push", "x-hub-signature-256": sig } }, (res) => {
      waiting.accepted = performance.now() - waiting.t0;
      waiting.status = res.statusCode;
      res.resume();
    });
    req.end(body);
  }).then(() => {
    const w = waiting;
    waiting = undefined;
    return { commit, sentAt: performance.timeOrigin + w.t0, status: w.status, accepted: w.accepted, times: [...w.times.values()].sort((a, b) => a - b), missing: streams.length - w.times.size };
  });
}

for await (const line of createInterface({ input: process.stdin })) {
  const [verb, commit] = line.split(" ");
  if (verb === "fire") process.stdout.write(`${JSON.stringify(await fire(commit))}\n`);
}
agent.destroy();
