// Regenerates the README screenshot (docs/web-home.png): a logged-in home
// page with a few posts, at 1400x900. Run through `E2E_README_SHOT=1 bash
// .ci/browser`, which starts a fresh `rookery serve` and passes E2E_BASE_URL.
//
//   node screenshot.mjs <output.png>
import { chromium } from '@playwright/test';
import { chromiumArgs } from './playwright.config.mjs';

const base = process.env.E2E_BASE_URL || 'http://127.0.0.1:8080';
const out = process.argv[2] || '../docs/web-home.png';

async function call(method, path, person, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (person) headers.Authorization = 'Basic ' + Buffer.from(`${person.username}:${person.password}`).toString('base64');
  const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

const people = {
  ada: { username: 'ada', password: 'ada-password-1', email: 'ada@example.test', bio: 'Birdwatcher. Writes about corvids.' },
  rook: { username: 'rook', password: 'rook-password-1', email: 'rook@example.test', bio: 'Caw.' },
  lin: { username: 'lin', password: 'lin-password-1', email: 'lin@example.test', bio: 'Rust and coffee.' },
};
for (const p of Object.values(people)) await call('POST', '/api/v1/users', null, p);
await call('POST', '/api/v1/users/rook/follow', people.ada);
await call('POST', '/api/v1/users/lin/follow', people.ada);
const first = await call('POST', '/api/v1/posts', people.rook, { text: 'Rooks nest in colonies called rookeries. Hello, #rookery!' });
await call('POST', '/api/v1/posts', people.lin, { text: 'Just shipped the web client: server-rendered, works with JavaScript off. #rust' });
await call('POST', `/api/v1/posts/${first.id}/replies`, people.ada, { text: '@rook welcome aboard!' });
await call('POST', `/api/v1/posts/${first.id}/upvote`, people.ada);
await call('POST', `/api/v1/posts/${first.id}/upvote`, people.lin);
await call('POST', '/api/v1/posts', people.ada, { text: 'Spotted a jackdaw on the balcony this morning.' });
await call('POST', '/api/v1/messages', people.rook, { to: 'ada', text: 'Coffee later?', quick_replies: ['Yes', 'No'] });

const browser = await chromium.launch({ executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium', args: chromiumArgs });
try {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: 'light' });
  const page = await ctx.newPage();
  await page.goto(base + '/login');
  await page.getByLabel('Username', { exact: true }).fill('ada');
  await page.getByLabel('Password', { exact: true }).fill(people.ada.password);
  await page.getByRole('button', { name: 'Log in', exact: true }).click();
  await page.getByRole('button', { name: 'Log out', exact: true }).waitFor();
  // Posts arrive in followers' timelines within 2 s: wait until all three show.
  for (let i = 0; i < 20; i++) {
    await page.goto(base + '/');
    const text = await page.locator('body').innerText();
    if (text.includes('jackdaw') && text.includes('rookeries') && text.includes('web client')) break;
    await page.waitForTimeout(250);
  }
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
}
