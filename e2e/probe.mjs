import { chromium, request as pwreq } from '@playwright/test';
import fs from 'node:fs';
const base = process.env.B;
const req = await pwreq.newContext({ baseURL: base });
const h = await import('./tests/helpers.mjs');
const w = await h.seedWorld(req, 'pr');
await h.api(req, 'POST', `/api/v1/posts/${w.postId}/upvote`, { as: w.b, expectStatus: 200 });
const axe = fs.readFileSync('node_modules/axe-core/axe.min.js', 'utf8');
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox','--disable-background-networking'] });
for (const loggedIn of [false, true]) for (const cs of ['light','dark']) {
  const ctx = await b.newContext({ colorScheme: cs });
  const p = await ctx.newPage();
  if (loggedIn) { await p.goto(base+'/login'); await p.getByLabel('Username',{exact:true}).fill(w.b.username); await p.getByLabel('Password',{exact:true}).fill(w.b.password); await p.getByRole('button',{name:'Log in'}).click(); await p.getByRole('button',{name:'Log out'}).waitFor(); }
  for (const [name, path] of h.pageList({ user: w.a.username, postId: w.postId, community: w.community, messageId: w.messageId, pollId: w.pollId, loggedIn })) {
    await p.goto(base+path);
    await p.evaluate(axe);
    const v = await p.evaluate(async () => (await axe.run(document)).violations.map(v => `${v.impact} ${v.id} (${v.nodes.length}): ${v.nodes[0].target.join(' ')} ${v.nodes[0].html.slice(0,120)}`));
    if (v.length) console.log(loggedIn?'in':'out', cs, name, '\n   ' + v.join('\n   '));
  }
  if (loggedIn && cs === 'light') {
    for (const path of ['/', `/p/${w.postId}`, `/u/${w.a.username}`]) {
      await p.goto(base+path);
      const pressed = await p.locator('article').filter({hasText: 'Hello world from'}).first().getByRole('button',{name:'Upvote'}).getAttribute('aria-pressed');
      console.log('b upvoted; Upvote aria-pressed on', path, '=', pressed);
    }
  }
  await ctx.close();
}
await b.close();
