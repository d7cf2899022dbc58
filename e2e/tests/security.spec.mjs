// Security properties of the web client: user content escaped (XSS payloads
// never run and are shown as text), forged cross-site form POSTs refused,
// Content-Security-Policy without inline scripts, session cookie flags,
// HTML error pages for browsers and JSON for the API.
import { test, expect } from '@playwright/test';
import http from 'node:http';
import {
  api,
  compose,
  createPerson,
  eventually,
  logIn,
  logInLink,
  logOutButton,
  pageList,
  seedWorld,
  uniqueName,
  userPosts,
} from './helpers.mjs';

const PAYLOADS = [
  '<script>alert("xss-script")</script>',
  '<img src=x onerror=alert("xss-img")>',
  '"><svg onload=alert("xss-svg")>',
  "'><iframe src=javascript:alert('xss-iframe')></iframe>",
];

/** Fails the test on any dialog, and on any CSP report in the console. */
function guard(page) {
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  // The CSP would block an unescaped inline payload; its report in the
  // console shows that markup got through all the same.
  const blocked = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
  });
  return {
    check: () => {
      expect(dialogs, `a dialog opened: a payload ran (${dialogs.join('; ')})`).toEqual([]);
      expect(blocked, 'the CSP blocked injected markup (so it was not escaped)').toEqual([]);
    },
  };
}

/** No element a payload would have created is in the DOM. */
async function expectNoInjectedMarkup(page) {
  await expect(page.locator('img[src="x"]')).toHaveCount(0);
  await expect(page.locator('svg[onload]')).toHaveCount(0);
  await expect(page.locator('iframe')).toHaveCount(0);
  await expect(page.locator('script:not([src])').filter({ hasText: 'xss-' })).toHaveCount(0);
  await expect(page.locator('a[href^="javascript:" i]')).toHaveCount(0);
  await expect(page.locator('[onerror], [onload]')).toHaveCount(0);
}

test.describe('XSS', () => {
  test('payloads in posts, replies, bios, messages, polls and search never run and show as text', async ({ browser, request }) => {
    const a = await createPerson(request, 'xa');
    const b = await createPerson(request, 'xb');
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const g = guard(page);
    await logIn(page, a);

    // Through the pages: a post per payload, from the compose form.
    for (const p of PAYLOADS) await compose(page, `post ${p}`);
    await eventually(async () => (await userPosts(request, a.username)).length === PAYLOADS.length, 'payload posts stored');
    const ids = (await userPosts(request, a.username)).map((p) => p.id);
    await page.goto('/');
    for (const p of PAYLOADS) await expect(page.getByText(`post ${p}`).first()).toBeVisible();
    await expectNoInjectedMarkup(page);

    // Each post page, with a payload reply.
    await api(request, 'POST', `/api/v1/posts/${ids[0]}/replies`, { as: b, body: { text: `reply ${PAYLOADS[1]}` }, expectStatus: 201 });
    for (const id of ids) {
      await page.goto(`/p/${id}`);
      await expectNoInjectedMarkup(page);
    }
    await page.goto(`/p/${ids[0]}`);
    await expect(page.getByText(`reply ${PAYLOADS[1]}`).first()).toBeVisible();

    // Bio, set from the settings page.
    await page.goto('/settings');
    await page.getByLabel('Bio', { exact: true }).fill(`bio ${PAYLOADS.join(' ')}`);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await eventually(async () => (await api(request, 'GET', `/api/v1/users/${a.username}`)).json.bio.startsWith('bio <script>'), 'bio saved');
    await page.goto(`/u/${a.username}`);
    await expect(page.getByText(`bio ${PAYLOADS.join(' ')}`).first()).toBeVisible();
    await expectNoInjectedMarkup(page);

    // Messages: text and quick replies, seen by the recipient (Alice).
    const m = await api(request, 'POST', '/api/v1/messages', {
      as: b,
      body: { to: a.username, text: `msg ${PAYLOADS[0]} ${PAYLOADS[2]}`, quick_replies: [PAYLOADS[1], PAYLOADS[2]] },
      expectStatus: 201,
    });
    await page.goto('/messages');
    await expect(page.getByText(`msg ${PAYLOADS[0]} ${PAYLOADS[2]}`).first()).toBeVisible();
    await expectNoInjectedMarkup(page);
    await page.goto(`/messages/${m.json.id}`);
    await expect(page.getByRole('button', { name: PAYLOADS[1], exact: true })).toBeVisible();
    await expectNoInjectedMarkup(page);

    // A poll question and options.
    const poll = await api(request, 'POST', '/api/v1/polls', {
      as: b,
      body: { question: `poll ${PAYLOADS[0]}`, options: [PAYLOADS[1], PAYLOADS[2]] },
      expectStatus: 201,
    });
    await page.goto(`/polls/${poll.json.id}`);
    await expect(page.getByText(`poll ${PAYLOADS[0]}`).first()).toBeVisible();
    await expectNoInjectedMarkup(page);

    // The search query, reflected in the page.
    await page.goto(`/search?q=${encodeURIComponent(PAYLOADS[2])}`);
    await expect(page.getByLabel('Search', { exact: true })).toHaveValue(PAYLOADS[2]);
    await expectNoInjectedMarkup(page);
    await page.goto(`/search?q=${encodeURIComponent('post ' + PAYLOADS[1])}`);
    await expectNoInjectedMarkup(page);
    g.check();
    await ctx.close();
  });

  test('a javascript: link in a community post is never a live link', async ({ page, request }) => {
    const g = guard(page);
    const a = await createPerson(request, 'xl');
    const community = uniqueName('x').toLowerCase();
    await logIn(page, a);
    await page.goto(`/c/${community}`);
    const title = `Click me ${community}`;
    await page.getByLabel('Title', { exact: true }).fill(title);
    await page.getByLabel(/^Link/).fill('javascript:alert("xss-link")');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    // Either refused (the API takes only http(s) URLs) or stored without a live link.
    const r = await api(request, 'GET', `/api/v1/communities/${community}/posts`);
    for (const item of r.json.items) {
      const full = (await api(request, 'GET', `/api/v1/posts/${item.id}`)).json;
      expect(full.url || '').not.toMatch(/^\s*javascript:/i);
      await page.goto(`/p/${item.id}`);
      await expectNoInjectedMarkup(page);
    }
    await page.goto(`/c/${community}`);
    await expectNoInjectedMarkup(page);
    // Clicking what is there runs nothing.
    const link = page.getByRole('link', { name: title });
    if (await link.count()) await link.first().click();
    await expectNoInjectedMarkup(page);
    g.check();
  });

  test('the login form keeps a payload username as text', async ({ page }) => {
    const g = guard(page);
    // A payload in the "come back to" parameter, reflected into the form.
    await page.goto(`/login?next=${encodeURIComponent(PAYLOADS[2])}`);
    await expectNoInjectedMarkup(page);
    await page.goto(`/signup?next=${encodeURIComponent(PAYLOADS[0])}`);
    await expectNoInjectedMarkup(page);
    await page.goto('/login');
    await page.getByLabel('Username', { exact: true }).fill(PAYLOADS[2]);
    await page.getByLabel('Password', { exact: true }).fill('whatever-password');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await expect(logOutButton(page)).toHaveCount(0);
    await expect(page.getByLabel('Username', { exact: true })).toHaveValue(PAYLOADS[2]);
    await expectNoInjectedMarkup(page);
    g.check();
  });
});

/** A tiny server on another port (another origin, same site) serving auto-submitting forms. */
async function attackerServer() {
  const pages = new Map();
  const server = http.createServer((req, res) => {
    const body = pages.get(req.url);
    if (!body) {
      res.writeHead(404).end('no');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    /** Registers a page holding `form`, submitted on load; returns its URL. */
    page(name, action, fields) {
      const inputs = Object.entries(fields)
        .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
        .join('');
      pages.set(
        `/${name}`,
        `<!doctype html><title>win a prize</title><form id="f" method="POST" action="${esc(action)}">${inputs}</form>` +
          `<script>document.getElementById('f').submit()</script>`,
      );
      return `${origin}/${name}`;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

/** The form holding `button` on the current page: its absolute action and its fields (name -> value). */
async function formOf(page, button) {
  const form = page.locator('form').filter({ has: button }).last();
  return form.evaluate((f) => ({
    action: new URL(f.getAttribute('action') || location.href, location.href).href,
    method: (f.getAttribute('method') || 'get').toLowerCase(),
    fields: Object.fromEntries([...f.elements].filter((e) => e.name).map((e) => [e.name, e.value])),
    hidden: [...f.elements].filter((e) => e.name && e.type === 'hidden').map((e) => e.name),
  }));
}

test.describe('CSRF', () => {
  test('forged cross-site form POSTs are refused with 403 and change nothing', async ({ browser, request }) => {
    // The forms are read from the real pages (action, field names); the forged
    // copies drop the CSRF token, or carry the attacker's own session's token.
    const victim = await createPerson(request, 'cv');
    const attacker = await createPerson(request, 'ca');
    const target = await createPerson(request, 'ct');
    const evil = await attackerServer();
    const vctx = await browser.newContext();
    const actx = await browser.newContext();
    const vp = await vctx.newPage();
    const ap = await actx.newPage();
    try {
      await logIn(vp, victim);
      await logIn(ap, attacker);

      const forms = {};
      await ap.goto('/');
      forms.post = await formOf(ap, ap.getByRole('button', { name: 'Post', exact: true }));
      forms.logout = await formOf(ap, ap.getByRole('button', { name: 'Log out', exact: true }).first());
      await ap.goto('/settings');
      forms.settings = await formOf(ap, ap.getByRole('button', { name: 'Save', exact: true }).first());
      await ap.goto(`/u/${target.username}`);
      forms.follow = await formOf(ap, ap.getByRole('button', { name: 'Follow', exact: true }));
      for (const [k, f] of Object.entries(forms)) {
        expect(f.method, `${k} form is a POST`).toBe('post');
        expect(f.hidden.length, `${k} form carries a hidden CSRF token`).toBeGreaterThan(0);
      }

      const forged = (f, overrides) => {
        const noToken = { ...f.fields, ...overrides };
        for (const h of f.hidden) delete noToken[h];
        return [noToken, { ...f.fields, ...overrides }]; // the second keeps the attacker's token
      };
      const attempts = [
        ['post', forms.post, { ...Object.fromEntries(Object.keys(forms.post.fields).filter((k) => !forms.post.hidden.includes(k)).map((k) => [k, 'FORGED post'])) }],
        ['settings', forms.settings, { bio: 'FORGED bio', email: 'forged@example.test' }],
        ['follow', forms.follow, {}],
        ['logout', forms.logout, {}],
      ];
      for (const [name, f, overrides] of attempts) {
        for (const [i, fields] of forged(f, overrides).entries()) {
          // Only keep field names the real form has (plus none of ours).
          const kept = Object.fromEntries(Object.entries(fields).filter(([k]) => k in f.fields));
          const url = evil.page(`${name}-${i}`, f.action, kept);
          const responsePromise = vp.waitForResponse((r) => r.request().method() === 'POST' && r.url().split('?')[0] === f.action.split('?')[0]);
          await vp.goto(url);
          const res = await responsePromise;
          expect(res.status(), `forged ${name} POST (${i ? "attacker's token" : 'no token'}) is refused`).toBe(403);
        }
      }

      // Nothing changed for the victim.
      expect(await userPosts(request, victim.username)).toEqual([]);
      const me = (await api(request, 'GET', `/api/v1/users/${victim.username}`, { as: victim })).json;
      expect(me.bio).toBe(victim.bio);
      expect(me.email).toBe(victim.email);
      const following = await api(request, 'GET', `/api/v1/users/${victim.username}/following`);
      expect(following.json.items).toEqual([]);
      await vp.goto('/');
      await expect(logOutButton(vp)).toBeVisible();

      // The real forms still work for the victim (the refusals were the token's doing).
      await vp.getByLabel("What's happening?").fill(`Real post by ${victim.username}`);
      await vp.getByRole('button', { name: 'Post', exact: true }).click();
      await eventually(async () => (await userPosts(request, victim.username)).length === 1, 'real post stored');
    } finally {
      await evil.close();
      await vctx.close();
      await actx.close();
    }
  });
});

test('no open redirect: after log-in, "next" pointing elsewhere stays on this site', async ({ browser, request, baseURL }) => {
  const a = await createPerson(request, 'or');
  const evil = await attackerServer();
  try {
    for (const next of [`${evil.origin}/`, `//127.0.0.1:${new URL(evil.origin).port}/`, '/\\example.org/', 'javascript:alert(1)']) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.goto(`/login?next=${encodeURIComponent(next)}`);
      await page.getByLabel('Username', { exact: true }).fill(a.username);
      await page.getByLabel('Password', { exact: true }).fill(a.password);
      await page.getByRole('button', { name: 'Log in', exact: true }).click();
      await expect(logOutButton(page)).toBeVisible();
      expect(new URL(page.url()).origin, `next=${next}`).toBe(new URL(baseURL).origin);
      await ctx.close();
    }
  } finally {
    await evil.close();
  }
});

test.describe('CSRF before login', () => {
  test('forged cross-site log-in and sign-up POSTs are refused', async ({ browser, request }) => {
    const attacker = await createPerson(request, 'la');
    const evil = await attackerServer();
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    try {
      await page.goto('/login');
      const login = await formOf(page, page.getByRole('button', { name: 'Log in', exact: true }));
      await page.goto('/signup');
      const signup = await formOf(page, page.getByRole('button', { name: 'Sign up', exact: true }));
      const pick = (f, values) => {
        const out = {};
        for (const k of Object.keys(f.fields)) {
          if (f.hidden.includes(k)) continue;
          const key = Object.keys(values).find((v) => k.toLowerCase().includes(v));
          if (key) out[k] = values[key];
        }
        return out;
      };
      // Logging the victim into the attacker's account (login CSRF).
      const loginUrl = evil.page('login', login.action, pick(login, { user: attacker.username, pass: attacker.password }));
      let res = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().split('?')[0] === login.action.split('?')[0]);
      await page.goto(loginUrl);
      expect((await res).status(), 'forged log-in').toBe(403);
      await page.goto('/');
      await expect(logOutButton(page)).toHaveCount(0);

      const name = uniqueName('forged');
      const signupUrl = evil.page('signup', signup.action, pick(signup, { user: name, email: `${name}@example.test`, pass: 'forged-password-1', bio: 'forged' }));
      res = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().split('?')[0] === signup.action.split('?')[0]);
      await page.goto(signupUrl);
      expect((await res).status(), 'forged sign-up').toBe(403);
      expect((await api(request, 'GET', `/api/v1/users/${name}`)).status, 'no account made').toBe(404);
    } finally {
      await evil.close();
      await ctx.close();
    }
  });
});

/** script-src (or default-src, when script-src is absent) of a CSP header. */
function scriptSources(csp) {
  const dirs = Object.fromEntries(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map(([k, ...v]) => [k.toLowerCase(), v]),
  );
  return dirs['script-src'] || dirs['default-src'] || null;
}

test.describe('headers', () => {
  test('every page has a CSP forbidding inline scripts, a title and a doctype', async ({ browser, request }) => {
    const w = await seedWorld(request, 'h');
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const check = async (loggedIn) => {
      const titles = new Map();
      for (const [name, path] of pageList({ user: w.a.username, postId: w.postId, community: w.community, messageId: w.messageId, pollId: w.pollId, loggedIn })) {
        const res = await page.goto(path);
        const where = `${name} (${path}, ${loggedIn ? 'logged in' : 'logged out'})`;
        const h = res.headers();
        expect(h['content-type'], where).toMatch(/^text\/html/);
        const csp = h['content-security-policy'];
        expect(csp, `${where}: Content-Security-Policy header`).toBeTruthy();
        const src = scriptSources(csp);
        expect(src, `${where}: CSP has script-src or default-src`).not.toBeNull();
        expect(src, `${where}: script-src allows no inline script`).not.toContain("'unsafe-inline'");
        expect(src, `${where}: script-src`).not.toContain("'unsafe-eval'");
        expect(src.join(' '), `${where}: script-src`).not.toMatch(/(^|\s)(\*|https?:|data:)(\s|$)/);
        const html = await res.text();
        expect(html.trimStart().slice(0, 15).toLowerCase(), `${where}: doctype`).toBe('<!doctype html>');
        expect(await page.locator('html').getAttribute('lang'), `${where}: html lang`).toBeTruthy();
        const title = await page.title();
        expect(title.trim(), `${where}: <title>`).not.toBe('');
        titles.set(name, title);
        if (loggedIn) {
          await expect(logOutButton(page), `${where}: "Log out" when logged in`).toBeVisible();
        }
        // No inline script elements or handlers in the markup itself.
        expect(html, `${where}: inline <script>`).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>\s*\S/i);
        expect(html, `${where}: inline event handler`).not.toMatch(/<[^>]+\son[a-z]+\s*=/i);
      }
      // Titles name the page: the main ones are distinct (logged in, /login
      // and /signup may send the browser home).
      const names = loggedIn ? ['home', 'profile', 'post', 'community', 'search', 'messages', 'settings', 'notifications'] : ['home', 'login', 'signup', 'profile', 'post', 'community', 'search'];
      const main = names.map((n) => titles.get(n));
      expect(new Set(main).size, `distinct titles: ${main.join(' | ')}`).toBe(main.length);
      expect(titles.get('profile')).toContain(w.a.username);
      expect(titles.get('community')).toContain(w.community);
    };
    await check(false);
    await logIn(page, w.a);
    await check(true);
    await ctx.close();
  });

  test('the session cookie is HttpOnly and SameSite=Lax', async ({ page, request, context }) => {
    const a = await createPerson(request, 'ck');
    await page.goto('/login');
    await page.getByLabel('Username', { exact: true }).fill(a.username);
    await page.getByLabel('Password', { exact: true }).fill(a.password);
    const resPromise = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    const res = await resPromise;
    await expect(logOutButton(page)).toBeVisible();
    const setCookies = (await res.headersArray()).filter((h) => h.name.toLowerCase() === 'set-cookie').map((h) => h.value);
    expect(setCookies.length, 'the login response sets a cookie').toBeGreaterThan(0);
    // The session cookie is the one without which the browser is logged out.
    const cookies = await context.cookies();
    let session = null;
    for (const c of cookies) {
      await context.clearCookies();
      await context.addCookies(cookies.filter((x) => x.name !== c.name));
      await page.goto('/');
      if ((await logOutButton(page).count()) === 0) session = c;
    }
    await context.clearCookies();
    await context.addCookies(cookies);
    expect(session, `one of ${cookies.map((c) => c.name).join(', ')} is the session`).not.toBeNull();
    expect(session.httpOnly, `${session.name} HttpOnly`).toBe(true);
    expect(session.sameSite, `${session.name} SameSite`).toBe('Lax');
    expect(session.value).not.toContain(a.password);
    const raw = setCookies.find((s) => s.startsWith(`${session.name}=`));
    expect(raw, 'Set-Cookie of the session').toBeTruthy();
    expect(raw).toMatch(/;\s*HttpOnly/i);
    expect(raw).toMatch(/;\s*SameSite=Lax/i);
    expect(raw).toMatch(/;\s*Path=\//i);
  });

  test('no request leaves the origin (no external fonts, avatars or scripts)', async ({ page, request, baseURL }) => {
    const w = await seedWorld(request, 'o');
    const origin = new URL(baseURL).origin;
    const foreign = [];
    page.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
    });
    await logIn(page, w.a);
    for (const [, path] of pageList({ user: w.b.username, postId: w.postId, community: w.community, messageId: w.messageId, pollId: w.pollId, loggedIn: true })) {
      await page.goto(path);
    }
    expect(foreign).toEqual([]);
  });
});

test.describe('rate limits', () => {
  test('log-in failures are limited as the API\'s are: a "slow down" page with 429', async ({ page, request }) => {
    const a = await createPerson(request, 'rl');
    // API.md: after 10 failures for one username within 15 minutes, 429.
    let last;
    for (let i = 0; i < 11; i++) {
      await page.goto('/login');
      await page.getByLabel('Username', { exact: true }).fill(a.username);
      await page.getByLabel('Password', { exact: true }).fill(`wrong-password-${i}`);
      const res = page.waitForResponse((r) => r.request().method() === 'POST');
      await page.getByRole('button', { name: 'Log in', exact: true }).click();
      last = await res;
      if (last.status() === 429) break;
    }
    expect(last.status(), 'the 11th failed log-in').toBe(429);
    expect(last.headers()['content-type']).toMatch(/^text\/html/);
    expect(Number(last.headers()['retry-after']), 'Retry-After').toBeGreaterThan(0);
    await expect(page.locator('body')).toContainText(/slow down|too many/i);
    // The right password is refused too while the limit holds, here and in the API.
    await page.goto('/login');
    await page.getByLabel('Username', { exact: true }).fill(a.username);
    await page.getByLabel('Password', { exact: true }).fill(a.password);
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await expect(logOutButton(page)).toHaveCount(0);
    expect((await api(request, 'GET', '/api/v1/auth/whoami', { as: a })).status).toBe(429);
  });
});

test.describe('error pages', () => {
  // API.md: button "Log out" on every page when logged in, error pages too.
  test('the 404 page keeps the logged-in header', async ({ page, request }) => {
    const a = await createPerson(request, 'nf');
    await logIn(page, a);
    const res = await page.goto('/no-such-page');
    expect(res.status()).toBe(404);
    await expect(logOutButton(page)).toBeVisible({ timeout: 2000 });
    await expect(logInLink(page)).toHaveCount(0);
  });

  test('logged out, / is the public timeline with "Log in" and "Sign up"', async ({ page, request }) => {
    const a = await createPerson(request, 'pub');
    const text = `Public post by ${a.username}`;
    await api(request, 'POST', '/api/v1/posts', { as: a, body: { text }, expectStatus: 201 });
    await expect(async () => {
      await page.goto('/');
      await expect(page.getByText(text).first()).toBeVisible({ timeout: 1000 });
    }).toPass({ timeout: 10_000 });
    await expect(logInLink(page).first()).toBeVisible();
    await expect(page.getByRole('link', { name: 'Sign up', exact: true }).first()).toBeVisible();
    await expect(logOutButton(page)).toHaveCount(0);
    await expect(page.getByLabel("What's happening?")).toHaveCount(0);
    await page.getByRole('link', { name: 'Sign up', exact: true }).first().click();
    await expect(page.getByRole('button', { name: 'Sign up', exact: true })).toBeVisible();
  });

  test('a browser gets an HTML 404 page; API paths keep JSON errors', async ({ page, request }) => {
    const res = await page.goto('/no-such-page');
    expect(res.status()).toBe(404);
    expect(res.headers()['content-type']).toMatch(/^text\/html/);
    await expect(page.getByRole('heading').first()).toBeVisible();
    await expect(page.locator('body')).toContainText(/not found|404|no such/i);
    // A way back home.
    await expect(page.locator('a[href="/"]').first()).toBeAttached();

    for (const path of ['/u/no_such_user_e2e', '/p/1', '/polls/1', '/c/NOT-valid!']) {
      const r = await page.goto(path);
      expect([404, 400], path).toContain(r.status());
      expect(r.headers()['content-type'], path).toMatch(/^text\/html/);
    }

    // The API stays JSON, even when a browser asks for HTML.
    const apiRes = await page.goto('/api/v1/no-such');
    expect(apiRes.status()).toBe(404);
    expect(apiRes.headers()['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(await apiRes.text());
    expect(body.error).toBeTruthy();
    const r2 = await api(request, 'GET', '/api/v1/no-such');
    expect(r2.status).toBe(404);
    expect(r2.json.error).toBeTruthy();
    const r3 = await api(request, 'GET', '/api/v1/posts/1');
    expect(r3.status).toBe(404);
    expect(r3.headers['content-type']).toMatch(/^application\/json/);
  });

  test('pages that need a session send a logged-out browser to log in', async ({ page }) => {
    for (const path of ['/messages', '/settings', '/notifications', '/polls/new']) {
      const res = await page.goto(path);
      expect(res.status(), path).toBeLessThan(500);
      await expect(page.getByLabel('Password', { exact: true }), `${path} offers the login form`).toBeVisible();
    }
    await expect(logInLink(page).first()).toBeVisible();
  });
});
