// Every page of the contract's list: accessibility (axe-core, no serious or
// critical violation, light and dark, logged out and in), layout at 360 px
// (no horizontal scroll), dark mode following prefers-color-scheme, and
// screenshots of the main pages at 360 and 1400 px under target/screenshots/.
import { test, expect } from '@playwright/test';
import { axeSerious, formatViolations, logIn, pageList, seedWorld, shotPath } from './helpers.mjs';

let world;
test.beforeAll(async ({ playwright, baseURL }) => {
  const request = await playwright.request.newContext({ baseURL });
  world = await seedWorld(request, 'pg');
  await request.dispose();
});

function pagesOf(loggedIn) {
  return pageList({
    user: world.a.username,
    postId: world.postId,
    community: world.community,
    messageId: world.messageId,
    pollId: world.pollId,
    loggedIn,
  });
}

for (const loggedIn of [false, true]) {
  for (const colorScheme of ['light', 'dark']) {
    const who = loggedIn ? 'logged in' : 'logged out';
    test(`axe: no serious or critical violations (${who}, ${colorScheme})`, async ({ browser }) => {
      const ctx = await browser.newContext({ colorScheme });
      const page = await ctx.newPage();
      if (loggedIn) await logIn(page, world.a);
      const report = [];
      for (const [name, path] of pagesOf(loggedIn)) {
        await page.goto(path);
        const v = await axeSerious(page);
        if (v.length) report.push(formatViolations(`${name} ${path} (${who}, ${colorScheme})`, v));
      }
      // Pages reached through buttons, and forms showing an error.
      const reached = async (name, go) => {
        await go();
        const v = await axeSerious(page);
        if (v.length) report.push(formatViolations(`${name} ${page.url()} (${who}, ${colorScheme})`, v));
      };
      if (loggedIn) {
        await reached('edit form', async () => {
          await page.goto(`/p/${world.postId}`);
          const edit = page.getByRole('button', { name: 'Edit', exact: true }).or(page.getByRole('link', { name: 'Edit', exact: true }));
          await edit.first().click();
          await expect(page.getByRole('textbox').first()).toBeVisible();
        });
        await reached('deactivate confirmation', async () => {
          page.once('dialog', (d) => d.dismiss().catch(() => {}));
          await page.goto('/settings');
          await page.getByRole('button', { name: 'Deactivate account', exact: true }).click();
          await expect(page.getByRole('button', { name: /Deactivate/ }).first()).toBeVisible();
        });
      } else {
        await reached('sign-up error', async () => {
          await page.goto('/signup');
          await page.getByLabel('Username', { exact: true }).fill(world.a.username);
          await page.getByLabel('Email', { exact: true }).fill('x@example.test');
          await page.getByLabel('Password', { exact: true }).fill('long-enough-password');
          await page.getByRole('button', { name: 'Sign up', exact: true }).click();
          await expect(page.getByText(/taken|already|in use|exists/i).first()).toBeVisible();
        });
      }
      await ctx.close();
      expect(report, `axe-core found serious or critical violations:\n${report.join('\n')}`).toEqual([]);
    });
  }
}

for (const loggedIn of [false, true]) {
  const who = loggedIn ? 'logged in' : 'logged out';
  test(`360 px: no horizontal scroll on any page (${who}); screenshots at 360 and 1400 px`, async ({ browser }) => {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 1 });
    const page = await ctx.newPage();
    if (loggedIn) await logIn(page, world.a);
    const wide = [];
    const duplicateIds = [];
    for (const [name, path] of pagesOf(loggedIn)) {
      await page.goto(path);
      const sw = await page.evaluate(() => document.documentElement.scrollWidth);
      if (sw > 360) wide.push(`${name} ${path}: scrollWidth ${sw}`);
      // Valid HTML5 in one respect a browser can tell: ids are unique.
      const dup = await page.evaluate(() => {
        const seen = new Map();
        for (const el of document.querySelectorAll('[id]')) seen.set(el.id, (seen.get(el.id) || 0) + 1);
        return [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`);
      });
      if (dup.length) duplicateIds.push(`${name} ${path}: ${dup.join(', ')}`);
      await page.screenshot({ path: shotPath(`${name}-${loggedIn ? 'in' : 'out'}-360.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1400, height: 900 });
    for (const [name, path] of pagesOf(loggedIn)) {
      await page.goto(path);
      await page.screenshot({ path: shotPath(`${name}-${loggedIn ? 'in' : 'out'}-1400.png`), fullPage: true });
    }
    await ctx.close();
    expect(wide, `pages wider than 360 px:\n${wide.join('\n')}`).toEqual([]);
    expect(duplicateIds, `duplicate ids:\n${duplicateIds.join('\n')}`).toEqual([]);
  });
}

test('dark mode follows prefers-color-scheme', async ({ browser }) => {
  const bg = async (colorScheme) => {
    const ctx = await browser.newContext({ colorScheme, viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    await page.goto('/');
    if (colorScheme === 'dark') {
      await page.screenshot({ path: shotPath('home-out-1400-dark.png'), fullPage: true });
      await logIn(page, world.a);
      for (const [name, path] of [['home', '/'], ['post', `/p/${world.postId}`], ['settings', '/settings']]) {
        await page.goto(path);
        await page.screenshot({ path: shotPath(`${name}-in-1400-dark.png`), fullPage: true });
      }
      await page.goto('/');
    }
    const colors = await page.evaluate(() => {
      const pick = (el) => getComputedStyle(el).backgroundColor;
      const body = pick(document.body);
      return { body: body === 'rgba(0, 0, 0, 0)' ? pick(document.documentElement) : body, text: getComputedStyle(document.body).color };
    });
    await ctx.close();
    return colors;
  };
  const light = await bg('light');
  const dark = await bg('dark');
  const lum = (c) => {
    const m = c.match(/\d+(\.\d+)?/g).map(Number);
    return 0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2];
  };
  expect(dark.body, 'background differs in dark mode').not.toBe(light.body);
  expect(lum(dark.body), `dark background ${dark.body} darker than light ${light.body}`).toBeLessThan(lum(light.body));
  expect(lum(dark.text), 'dark mode text is light').toBeGreaterThan(lum(dark.body));
});

test('times are relative, with the exact time on hover', async ({ page }) => {
  await page.goto(`/p/${world.postId}`);
  const t = page.locator('time[datetime]').first();
  await expect(t).toBeVisible();
  const datetime = await t.getAttribute('datetime');
  expect(Number.isNaN(Date.parse(datetime)), `datetime="${datetime}" parses`).toBe(false);
  await expect(t).toHaveText(/ago|just now|now|sec|min|hour|day/i);
  const title = await t.getAttribute('title');
  expect(title, 'the exact time is in the title (hover)').toBeTruthy();
  expect(title).toMatch(/\d{4}|\d{1,2}:\d{2}/);
});

test('with JavaScript, votes, follows and "More" work in place (no page load)', async ({ page, playwright, baseURL }) => {
  const request = await playwright.request.newContext({ baseURL });
  const { createPerson, apiPost, api } = await import('./helpers.mjs');
  const a = await createPerson(request, 'ja');
  const b = await createPerson(request, 'jb');
  const texts = [];
  for (let i = 0; i < 22; i++) {
    texts.push(`In-place post ${i} by ${a.username}`);
    await apiPost(request, a, { text: texts[i] });
  }
  await logIn(page, b);
  await page.goto(`/u/${a.username}`);
  let loads = 0;
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) loads++;
  });
  await page.getByRole('button', { name: 'Follow', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Unfollow', exact: true })).toBeVisible();
  const box = page.locator('article').filter({ hasText: texts[21] }).first();
  await box.getByRole('button', { name: 'Upvote' }).click();
  await expect(box.getByText(/^\s*1(\s*points?)?\s*$/i).first()).toBeVisible();
  await expect.poll(async () => (await api(request, 'GET', `/api/v1/users/${a.username}/followers`)).json.items.length).toBe(1);
  await page.getByRole('link', { name: 'More', exact: true }).click();
  await expect(page.getByText(texts[0], { exact: true })).toBeVisible();
  // The first page is still there: "More" appended, it did not replace.
  await expect(page.getByText(texts[21], { exact: true })).toBeVisible();
  expect(loads, 'page loads while following, voting and loading more').toBe(0);
  await request.dispose();
});
