// Shared helpers: people, sessions and API checks. Pages are driven only
// through the accessible names of ../../shared/API.md "Web client" (the
// contract), never through classes or ids of the implementation.
import { expect } from '@playwright/test';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
export const targetDir = process.env.E2E_TARGET_DIR || path.join(here, '..', '..', 'target');
export const screenshotDir = path.join(targetDir, 'screenshots');

let counter = 0;
/** A username unique within this server's run: `<prefix>_<base36 time><n>`. */
export function uniqueName(prefix) {
  counter += 1;
  const stamp = Date.now().toString(36).slice(-6);
  const rnd = Math.floor(Math.random() * 36 ** 3).toString(36);
  return `${prefix}_${stamp}${rnd}${counter}`.slice(0, 30);
}

export function newPerson(prefix = 'p') {
  const username = uniqueName(prefix);
  return {
    username,
    email: `${username.toLowerCase()}@example.test`,
    password: `pw-${username}-secret`,
    bio: `Hi, I am ${username}.`,
  };
}

function basic(person) {
  return 'Basic ' + Buffer.from(`${person.username}:${person.password}`).toString('base64');
}

/** A JSON API call at the same origin; `as` is a person for HTTP Basic. */
export async function api(request, method, url, { as, body, expectStatus } = {}) {
  const headers = { Accept: 'application/json' };
  if (as) headers.Authorization = basic(as);
  const res = await request.fetch(url, {
    method,
    headers,
    data: body === undefined ? undefined : body,
    failOnStatusCode: false,
    maxRedirects: 0,
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (expectStatus !== undefined) {
    const ok = Array.isArray(expectStatus) ? expectStatus.includes(res.status()) : res.status() === expectStatus;
    if (!ok) throw new Error(`${method} ${url}: expected ${expectStatus}, got ${res.status()}: ${text.slice(0, 300)}`);
  }
  return { status: res.status(), json, headers: res.headers() };
}

/** Creates an account through the API (for people a test only needs to exist). */
export async function createPerson(request, prefix) {
  const p = newPerson(prefix);
  await api(request, 'POST', '/api/v1/users', {
    body: { username: p.username, email: p.email, password: p.password, bio: p.bio },
    expectStatus: 201,
  });
  return p;
}

export async function apiPost(request, person, body) {
  const r = await api(request, 'POST', '/api/v1/posts', { as: person, body, expectStatus: 201 });
  return r.json;
}

export async function userPosts(request, username) {
  const r = await api(request, 'GET', `/api/v1/users/${username}/posts?limit=100`, { expectStatus: 200 });
  return r.json.items;
}

export async function whoami(request, person) {
  return (await api(request, 'GET', '/api/v1/auth/whoami', { as: person, expectStatus: 200 })).json;
}

/** Waits (polling, bounded) until fn() returns a truthy value: the API is eventually consistent. */
export async function eventually(fn, message = 'condition', timeout = 10_000) {
  let last;
  await expect
    .poll(async () => {
      last = await fn();
      return !!last;
    }, { message, timeout })
    .toBe(true);
  return last;
}

export const logOutButton = (page) => page.getByRole('button', { name: 'Log out', exact: true });
export const logInLink = (page) => page.getByRole('link', { name: 'Log in', exact: true });

/** Signs up through /signup; on success the person is logged in. */
export async function signUp(page, person) {
  await page.goto('/signup');
  await page.getByLabel('Username', { exact: true }).fill(person.username);
  await page.getByLabel('Email', { exact: true }).fill(person.email);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  if (person.bio !== undefined) await page.getByLabel(/^Bio/).fill(person.bio);
  await page.getByRole('button', { name: 'Sign up', exact: true }).click();
  await expect(logOutButton(page)).toBeVisible();
}

/** Logs in through /login. */
export async function logIn(page, person) {
  await page.goto('/login');
  await page.getByLabel('Username', { exact: true }).fill(person.username);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await expect(logOutButton(page)).toBeVisible();
}

export async function logOut(page) {
  await logOutButton(page).first().click();
  await expect(logInLink(page).first()).toBeVisible();
  await expect(logOutButton(page)).toHaveCount(0);
}

/** Posts from the home page's compose form. */
export async function compose(page, text) {
  await page.goto('/');
  await page.getByLabel("What's happening?").fill(text);
  await page.getByRole('button', { name: 'Post', exact: true }).click();
  // The home timeline is eventually consistent (own posts included): the
  // page the form comes back to may not list the new post yet.
  await expect(async () => {
    if (!(await page.getByText(text, { exact: false }).count())) await page.goto('/');
    await expect(page.getByText(text, { exact: false }).first()).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 10_000 });
}

/**
 * The innermost element holding a post's text and its own "Upvote" button:
 * the post's box, however the page marks it up.
 */
export function postBox(page, text) {
  return page
    .locator('article, li, section, div')
    .filter({ hasText: text })
    .filter({ has: page.getByRole('button', { name: 'Upvote' }) })
    .last();
}

/** The id of the post whose text is `text`, by the author's timeline in the API. */
export async function postIdByText(request, username, text) {
  const post = await eventually(async () => (await userPosts(request, username)).find((p) => (p.text || p.title) === text), `post "${text}" by ${username}`);
  return post.id;
}

/** Every page of the contract's list, for scans: [name, path] pairs. */
export function pageList({ user, postId, community, messageId, pollId, loggedIn }) {
  const pages = [
    ['home', '/'],
    ['login', '/login'],
    ['signup', '/signup'],
    ['profile', `/u/${user}`],
    ['post', `/p/${postId}`],
    ['community', `/c/${community}`],
    ['search', '/search?q=hello'],
    ['poll', `/polls/${pollId}`],
    ['not-found', '/no-such-page'],
  ];
  if (loggedIn) {
    pages.push(
      ['messages', '/messages'],
      ['messages-sent', '/messages?box=sent'],
      ['message-thread', `/messages/${messageId}`],
      ['settings', '/settings'],
      ['notifications', '/notifications'],
      ['poll-new', '/polls/new'],
    );
  }
  return pages;
}

/** Sets up a small world every page of the list can show: returns the ids. */
export async function seedWorld(request, prefix = 'w') {
  const a = await createPerson(request, `${prefix}a`);
  const b = await createPerson(request, `${prefix}b`);
  const community = uniqueName('c').toLowerCase();
  const post = await apiPost(request, a, { text: `Hello world from ${a.username} #e2e` });
  await api(request, 'POST', `/api/v1/posts/${post.id}/replies`, { as: b, body: { text: `A reply by ${b.username}` }, expectStatus: 201 });
  await apiPost(request, a, { title: `A link in ${community}`, community, url: 'https://example.org/', text: 'Some text' });
  await api(request, 'POST', `/api/v1/users/${a.username}/follow`, { as: b, expectStatus: [200, 201] });
  await api(request, 'POST', `/api/v1/users/${b.username}/follow`, { as: a, expectStatus: [200, 201] });
  const msg = await api(request, 'POST', '/api/v1/messages', {
    as: b,
    body: { to: a.username, text: 'Lunch tomorrow?', quick_replies: ['Yes', 'No'] },
    expectStatus: 201,
  });
  const poll = await api(request, 'POST', '/api/v1/polls', {
    as: a,
    body: { question: 'Tea or coffee?', options: ['Tea', 'Coffee'] },
    expectStatus: 201,
  });
  return { a, b, community, postId: post.id, messageId: msg.json.id, pollId: poll.json.id };
}

let axeSource;
/** Runs axe-core (injected from node_modules) and returns the serious and critical violations. */
export async function axeSerious(page) {
  if (!axeSource) {
    const require = createRequire(import.meta.url);
    axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  }
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary, html: n.html.slice(0, 200) })),
    }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export function formatViolations(where, violations) {
  return violations
    .map(
      (v) =>
        `${where}: [${v.impact}] ${v.id}: ${v.help}\n` +
        v.nodes.map((n) => `    at ${n.target}\n      ${n.html}\n      ${(n.summary || '').replace(/\n/g, '\n      ')}`).join('\n'),
    )
    .join('\n');
}

export function shotPath(name) {
  fs.mkdirSync(screenshotDir, { recursive: true });
  return path.join(screenshotDir, name);
}
