// The main flows of issue 14 item 4, through the pages. Run twice by
// playwright.config.mjs: project "js" (scripts on) and "nojs" (scripts off,
// plain links and forms). State is checked through the JSON API too.
import { test, expect } from '@playwright/test';
import {
  api,
  apiPost,
  compose,
  createPerson,
  eventually,
  logIn,
  logInLink,
  logOut,
  logOutButton,
  newPerson,
  postBox,
  postIdByText,
  signUp,
  uniqueName,
  userPosts,
  whoami,
} from './helpers.mjs';

/** A score shown as a number alone ("1", "-1", "−1", "1 point", "Score: 1"). */
function scoreText(n) {
  const num = n < 0 ? `[-−]${-n}` : `${n}`;
  return new RegExp(`^\\s*(score:?\\s*)?${num}(\\s*points?)?\\s*$`, 'i');
}

/** Reloads `path` until `locator(page)` is visible (the API is eventually consistent). */
async function visibleAfterReload(page, path, locator) {
  await expect(async () => {
    await page.goto(path);
    await expect(locator(page).first()).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 10_000 });
}

async function goneAfterReload(page, path, locator) {
  await expect(async () => {
    await page.goto(path);
    await expect(locator(page)).toHaveCount(0, { timeout: 1000 });
  }).toPass({ timeout: 10_000 });
}

test.describe('main flows', () => {
  test('two people sign up, follow, post, see it at home, reply, vote, repost', async ({ browser, request }) => {
    const alice = newPerson('alice');
    const bob = newPerson('bob');
    const ca = await browser.newContext();
    const cb = await browser.newContext();
    const pa = await ca.newPage();
    const pb = await cb.newPage();

    await signUp(pa, alice);
    await signUp(pb, bob);
    expect((await whoami(request, alice)).username).toBe(alice.username);

    // Bob follows Alice from her profile.
    await pb.goto(`/u/${alice.username}`);
    await expect(pb.getByText(alice.bio)).toBeVisible();
    await pb.getByRole('button', { name: 'Follow', exact: true }).click();
    await expect(pb.getByRole('button', { name: 'Unfollow', exact: true })).toBeVisible();
    await eventually(async () => {
      const r = await api(request, 'GET', `/api/v1/users/${alice.username}/followers`);
      return r.json.items.some((u) => u.username === bob.username);
    }, 'bob among alice followers');

    // Her profile counts the follower, and shows karma.
    await visibleAfterReload(pb, `/u/${alice.username}`, (p) => p.locator('main').getByText(/^\s*1\s*followers?\s*$/i));
    await expect(pb.locator('main')).toContainText(/karma/i);

    // Alice posts; it shows on Bob's home page, with a link to the post.
    const text = `First post by ${alice.username}, hello Bob`;
    await compose(pa, text);
    const id = await postIdByText(request, alice.username, text);
    await visibleAfterReload(pb, '/', (p) => p.getByText(text));
    const link = pb.locator(`a[href$="/p/${id}"]`).first();
    await expect(link).toBeVisible();
    await link.click();
    await expect(pb).toHaveURL(new RegExp(`/p/${id}$`));
    await expect(pb.getByText(text).first()).toBeVisible();

    // Bob replies.
    const reply = `Reply by ${bob.username}: welcome`;
    await pb.getByLabel('Reply', { exact: true }).fill(reply);
    await pb.getByRole('button', { name: 'Reply', exact: true }).click();
    await expect(pb.getByText(reply)).toBeVisible();
    await eventually(async () => {
      const r = await api(request, 'GET', `/api/v1/posts/${id}/replies`);
      return r.json.items.some((p) => p.text === reply && p.author === bob.username);
    }, 'reply stored');

    // Replies are listed oldest first.
    const reply2 = `Second reply, by ${alice.username}`;
    await api(request, 'POST', `/api/v1/posts/${id}/replies`, { as: alice, body: { text: reply2 }, expectStatus: 201 });
    await visibleAfterReload(pb, `/p/${id}`, (p) => p.getByText(reply2));
    const body = await pb.locator('body').innerText();
    expect(body.indexOf(reply), 'first reply shown').toBeGreaterThan(-1);
    expect(body.indexOf(reply), 'oldest reply first').toBeLessThan(body.indexOf(reply2));

    // Bob votes: up (score 1), then down (score -1); the page shows the score.
    await pb.goto(`/p/${id}`);
    const box = postBox(pb, text);
    await expect(box.getByText(scoreText(0)).first()).toBeVisible();
    await box.getByRole('button', { name: 'Upvote' }).first().click();
    await expect(postBox(pb, text).getByText(scoreText(1)).first()).toBeVisible();
    expect((await api(request, 'GET', `/api/v1/posts/${id}/votes`)).json.score).toBe(1);
    await postBox(pb, text).getByRole('button', { name: 'Downvote' }).first().click();
    await expect(postBox(pb, text).getByText(scoreText(-1)).first()).toBeVisible();
    expect((await api(request, 'GET', `/api/v1/posts/${id}/votes`)).json.score).toBe(-1);
    // After a reload the page still shows the stored score.
    await pb.reload();
    await expect(postBox(pb, text).getByText(scoreText(-1)).first()).toBeVisible();

    // Bob reposts; the repost is on his profile.
    await postBox(pb, text).getByRole('button', { name: 'Repost' }).first().click();
    const repost = await eventually(
      async () => (await userPosts(request, bob.username)).find((p) => p.repost_of && p.repost_of.id === id),
      'repost in bob timeline',
    );
    expect(repost.author).toBe(bob.username);
    await visibleAfterReload(pb, `/u/${bob.username}`, (p) => p.getByText(text));

    // Only the author sees Edit and Delete.
    await pb.goto(`/p/${id}`);
    await expect(postBox(pb, text).getByRole('button', { name: 'Upvote' })).toHaveCount(1);
    await expect(postBox(pb, text).getByRole('button', { name: 'Delete', exact: true })).toHaveCount(0);
    await expect(postBox(pb, text).getByRole('button', { name: 'Edit', exact: true })).toHaveCount(0);
    // Bob's own reply is his to delete.
    await expect(postBox(pb, reply).getByRole('button', { name: 'Delete', exact: true })).toHaveCount(1);
    await pa.goto(`/p/${id}`);
    await expect(postBox(pa, text).getByRole('button', { name: 'Delete', exact: true })).toBeVisible();
    const abox = postBox(pa, text);
    await expect(abox.getByRole('button', { name: 'Edit', exact: true }).or(abox.getByRole('link', { name: 'Edit', exact: true })).first()).toBeVisible();

    await logOut(pa);
    await logOut(pb);
    await ca.close();
    await cb.close();
  });

  test('author edits and deletes a post', async ({ page, request }) => {
    const a = await createPerson(request, 'ed');
    const post = await apiPost(request, a, { text: `Typo postt by ${a.username}` });
    await logIn(page, a);
    await page.goto(`/p/${post.id}`);
    const edit = page.getByRole('button', { name: 'Edit', exact: true }).or(page.getByRole('link', { name: 'Edit', exact: true }));
    await edit.first().click();
    const fixed = `Fixed post by ${a.username}`;
    // The edit form holds the post's current text in a text box.
    const box = page.getByRole('textbox').filter({ hasText: 'Typo postt' }).or(page.locator('textarea')).first();
    await box.fill(fixed);
    await page.getByRole('button', { name: /^(Save|Edit|Update)/ }).first().click();
    await expect(page.getByText(fixed).first()).toBeVisible();
    expect((await api(request, 'GET', `/api/v1/posts/${post.id}`)).json.text).toBe(fixed);

    await page.goto(`/p/${post.id}`);
    page.once('dialog', (d) => d.accept());
    await page.getByRole('button', { name: 'Delete', exact: true }).first().click();
    // A confirmation step may follow (a page with another "Delete" button).
    await expect(async () => {
      const r = await api(request, 'GET', `/api/v1/posts/${post.id}`);
      if (r.status !== 404) {
        const again = page.getByRole('button', { name: /Delete/ });
        if (await again.count()) await again.first().click({ timeout: 1000 });
      }
      expect((await api(request, 'GET', `/api/v1/posts/${post.id}`)).status).toBe(404);
    }).toPass({ timeout: 10_000 });
  });

  test('community submit and the Hot, New, Top, Controversial tabs', async ({ page, request }) => {
    const a = await createPerson(request, 'cm');
    const voters = [await createPerson(request, 'v1'), await createPerson(request, 'v2')];
    const community = uniqueName('c').toLowerCase();
    await logIn(page, a);
    await page.goto(`/c/${community}`);
    const title1 = `Submitted link ${community}`;
    await page.getByLabel('Title', { exact: true }).fill(title1);
    await page.getByLabel(/^Link/).fill('https://example.org/article');
    await page.getByLabel(/^Text/).fill('Worth reading.');
    await page.getByRole('button', { name: 'Submit', exact: true }).click();
    await expect(page.getByText(title1).first()).toBeVisible();
    const posts = await eventually(async () => {
      const r = await api(request, 'GET', `/api/v1/communities/${community}/posts`);
      return r.json.items.length === 1 ? r.json.items : null;
    }, 'submitted post listed');
    expect(posts[0].title).toBe(title1);
    expect(posts[0].author).toBe(a.username);
    const full = (await api(request, 'GET', `/api/v1/posts/${posts[0].id}`)).json;
    expect(full.url).toBe('https://example.org/article');

    // A newer, unvoted post; the first gets two upvotes.
    const title2 = `Newer text post ${community}`;
    await apiPost(request, a, { title: title2, community });
    for (const v of voters) {
      await api(request, 'POST', `/api/v1/posts/${posts[0].id}/upvote`, { as: v, expectStatus: 200 });
    }

    const order = async () => {
      const t = await page.locator('body').innerText();
      const i1 = t.indexOf(title1);
      const i2 = t.indexOf(title2);
      return i1 < 0 || i2 < 0 ? 'missing' : i1 < i2 ? 'voted first' : 'newer first';
    };
    for (const tab of ['Hot', 'New', 'Top', 'Controversial']) {
      await page.goto(`/c/${community}`);
      const link = page.getByRole('link', { name: tab, exact: true });
      const href = await link.getAttribute('href');
      expect(href, `${tab} link has an href`).toBeTruthy();
      await link.click();
      await expect(page).toHaveURL(new URL(href, page.url()).href);
      if (tab === 'New') await expect.poll(order, { message: 'New: newest first' }).toBe('newer first');
      else if (tab === 'Top') await expect.poll(order, { message: 'Top: highest score first' }).toBe('voted first');
      else await expect.poll(order, { message: `${tab}: both posts shown` }).not.toBe('missing');
    }
  });

  test('messages: send, inbox and sent, quick reply', async ({ browser, request }) => {
    const a = await createPerson(request, 'ma');
    const b = await createPerson(request, 'mb');
    const ca = await browser.newContext();
    const cb = await browser.newContext();
    const pa = await ca.newPage();
    const pb = await cb.newPage();
    await logIn(pa, a);
    await logIn(pb, b);

    // Alice writes to Bob: from his profile's "Message" link to the form.
    const text = `Hello Bob, from ${a.username}`;
    await pa.goto(`/u/${b.username}`);
    await pa.getByRole('link', { name: 'Message', exact: true }).click();
    await expect(pa.getByLabel('Message', { exact: true })).toBeVisible();
    const to = pa.getByLabel('To', { exact: true });
    if ((await to.inputValue()) !== b.username) await to.fill(b.username);
    await pa.getByLabel('Message', { exact: true }).fill(text);
    await pa.getByRole('button', { name: 'Send', exact: true }).click();
    const sent = await eventually(async () => {
      const r = await api(request, 'GET', '/api/v1/messages', { as: b });
      return r.json.items.find((m) => m.text === text);
    }, 'message in bob inbox');
    expect(sent.from).toBe(a.username);
    await pa.goto('/messages');
    await pa.getByRole('link', { name: 'Sent', exact: true }).click();
    await expect(pa.getByText(text).first()).toBeVisible();

    await pb.goto('/messages');
    await expect(pb.getByRole('link', { name: 'Inbox', exact: true })).toBeVisible();
    await expect(pb.getByText(text).first()).toBeVisible();

    // Alice offers quick replies (the API's quick_replies); Bob answers with one button.
    const q = await api(request, 'POST', '/api/v1/messages', {
      as: a,
      body: { to: b.username, text: `Lunch tomorrow? ${a.username}`, quick_replies: ['Sounds good', 'Not today'] },
      expectStatus: 201,
    });
    await pb.goto('/messages');
    const threadLink = pb.locator(`a[href$="/messages/${q.json.id}"]`).first();
    await expect(threadLink).toBeVisible();
    await threadLink.click();
    await expect(pb).toHaveURL(new RegExp(`/messages/${q.json.id}$`));
    await expect(pb.getByRole('button', { name: 'Not today', exact: true })).toBeVisible();
    await pb.getByRole('button', { name: 'Sounds good', exact: true }).click();
    const answer = await eventually(async () => {
      const r = await api(request, 'GET', '/api/v1/messages', { as: a });
      return r.json.items.find((m) => m.from === b.username && m.in_reply_to === q.json.id);
    }, 'quick reply in alice inbox');
    expect(answer.text).toBe('Sounds good');
    await expect(pb.getByText('Sounds good').first()).toBeVisible();

    // A typed reply from the thread's form.
    await pb.goto(`/messages/${q.json.id}`);
    const typed = `See you at noon, ${b.username}`;
    await pb.locator('form').filter({ has: pb.getByRole('button', { name: 'Send', exact: true }) }).getByRole('textbox').last().fill(typed);
    await pb.getByRole('button', { name: 'Send', exact: true }).click();
    await eventually(async () => {
      const r = await api(request, 'GET', '/api/v1/messages', { as: a });
      return r.json.items.some((m) => m.text === typed && m.in_reply_to === q.json.id);
    }, 'typed reply in alice inbox');
    await ca.close();
    await cb.close();
  });

  test('notifications: unread count in the header, unread marked', async ({ page, request }) => {
    const a = await createPerson(request, 'na');
    const b = await createPerson(request, 'nb');
    const post = await apiPost(request, a, { text: `Notify me ${a.username}` });
    await api(request, 'POST', `/api/v1/users/${a.username}/follow`, { as: b, expectStatus: [200, 201] });
    await api(request, 'POST', `/api/v1/posts/${post.id}/replies`, { as: b, body: { text: `Hey @${a.username}` }, expectStatus: 201 });
    const count = await eventually(async () => {
      const r = await api(request, 'GET', '/api/v1/notifications/unread_count', { as: a });
      return r.json.count >= 2 ? r.json.count : 0;
    }, 'notifications delivered');

    await logIn(page, a);
    await page.goto('/');
    const header = page.getByRole('link', { name: /Notifications/ }).first();
    await expect(header).toBeVisible();
    await expect(header).toHaveAccessibleName(new RegExp(`\\b${count}\\b`));

    await header.click();
    await expect(page).toHaveURL(/\/notifications/);
    await expect(page.getByText(b.username).first()).toBeVisible();
    // Unread ones are marked, in words a screen reader reads too ("New", "unread").
    const entries = page.locator('li, p, article, tr').filter({ hasText: b.username });
    await expect(entries.filter({ hasText: /\b(new|unread)\b/i }).first()).toBeVisible();
  });

  test('search finds posts and people', async ({ page, request }) => {
    const a = await createPerson(request, 'sa');
    const word = `quokka${Date.now().toString(36)}`;
    await apiPost(request, a, { text: `I saw a ${word} today` });
    const b = await createPerson(request, 'sb');
    await logIn(page, b);
    await page.goto('/search');
    await page.getByLabel('Search', { exact: true }).fill(word);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect(page).toHaveURL(/\/search\?(.*&)?q=/);
    await expect(async () => {
      await page.reload();
      await expect(page.getByText(`I saw a ${word} today`).first()).toBeVisible({ timeout: 1000 });
    }).toPass({ timeout: 10_000 });

    // A post's #tag links to what carries it.
    const tag = `tag${Date.now().toString(36)}`;
    const tagged = `Tagged post #${tag} by ${a.username}`;
    await apiPost(request, a, { text: tagged });
    await visibleAfterReload(page, `/u/${a.username}`, (p) => p.getByText(tagged));
    await page.getByRole('link', { name: `#${tag}`, exact: true }).first().click();
    await expect(async () => {
      await page.reload();
      await expect(page.getByText(tagged).first()).toBeVisible({ timeout: 1000 });
    }).toPass({ timeout: 10_000 });
    await expect(page.getByText(`I saw a ${word} today`)).toHaveCount(0);

    await page.goto('/search');
    await page.getByLabel('Search', { exact: true }).fill(a.username);
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect(page.locator(`a[href$="/u/${a.username}"]`).first()).toBeVisible();
  });

  test('block: posts leave home, follow refused; unblock from settings', async ({ browser, request }) => {
    const a = await createPerson(request, 'ba');
    const b = await createPerson(request, 'bb');
    await api(request, 'POST', `/api/v1/users/${b.username}/follow`, { as: a, expectStatus: [200, 201] });
    const text = `Post by ${b.username} before the block`;
    await apiPost(request, b, { text });
    const ca = await browser.newContext();
    const pa = await ca.newPage();
    await logIn(pa, a);
    await visibleAfterReload(pa, '/', (p) => p.getByText(text));

    await pa.goto(`/u/${b.username}`);
    await pa.getByRole('button', { name: 'Block', exact: true }).click();
    await expect(pa.getByRole('button', { name: 'Unblock', exact: true })).toBeVisible();
    await eventually(async () => {
      const r = await api(request, 'GET', '/api/v1/blocks', { as: a });
      return r.json.items.some((u) => u.username === b.username);
    }, 'block stored');
    await goneAfterReload(pa, '/', (p) => p.getByText(text));

    // Bob cannot follow Alice while blocked.
    const cb = await browser.newContext();
    const pb = await cb.newPage();
    await logIn(pb, b);
    await pb.goto(`/u/${a.username}`);
    await pb.getByRole('button', { name: 'Follow', exact: true }).click();
    // The refusal is said (whatever page it lands on).
    await expect(pb.getByText(/not allowed|blocked|cannot|can't|refused/i).first()).toBeVisible();
    await pb.goto(`/u/${a.username}`);
    await expect(pb.getByRole('button', { name: 'Follow', exact: true })).toBeVisible();
    await expect(pb.getByRole('button', { name: 'Unfollow', exact: true })).toHaveCount(0);
    const followers = await api(request, 'GET', `/api/v1/users/${a.username}/followers`);
    expect(followers.json.items.map((u) => u.username)).not.toContain(b.username);

    // Settings lists the block with "Unblock".
    await pa.goto('/settings');
    const unblock = pa.getByRole('button', { name: 'Unblock', exact: true });
    await expect(unblock).toHaveCount(1);
    await expect(pa.getByText(b.username).first()).toBeVisible();
    await unblock.click();
    await eventually(async () => {
      const r = await api(request, 'GET', '/api/v1/blocks', { as: a });
      return r.json.items.length === 0;
    }, 'unblocked');
    await ca.close();
    await cb.close();
  });

  test('mute: posts leave home; unmute from settings', async ({ page, request }) => {
    const a = await createPerson(request, 'mua');
    const c = await createPerson(request, 'muc');
    await api(request, 'POST', `/api/v1/users/${c.username}/follow`, { as: a, expectStatus: [200, 201] });
    const text = `Loud post by ${c.username}`;
    await apiPost(request, c, { text });
    await logIn(page, a);
    await visibleAfterReload(page, '/', (p) => p.getByText(text));
    await page.goto(`/u/${c.username}`);
    await page.getByRole('button', { name: 'Mute', exact: true }).click();
    await expect(page.getByRole('button', { name: 'Unmute', exact: true })).toBeVisible();
    await goneAfterReload(page, '/', (p) => p.getByText(text));
    // Muting changes nothing else: still following.
    await page.goto(`/u/${c.username}`);
    await expect(page.getByRole('button', { name: 'Unfollow', exact: true })).toBeVisible();

    await page.goto('/settings');
    await page.getByRole('button', { name: 'Unmute', exact: true }).click();
    await eventually(async () => (await api(request, 'GET', '/api/v1/mutes', { as: a })).json.items.length === 0, 'unmuted');
    await visibleAfterReload(page, '/', (p) => p.getByText(text));
  });

  test('settings: bio change; a password change ends the session', async ({ browser, request }) => {
    const a = await createPerson(request, 'st');
    const c1 = await browser.newContext();
    const c2 = await browser.newContext();
    const p1 = await c1.newPage();
    const p2 = await c2.newPage();
    await logIn(p1, a);
    await logIn(p2, a);

    await p1.goto('/settings');
    const bio = `New bio of ${a.username}, likes birds`;
    await expect(p1.getByLabel('Bio', { exact: true })).toHaveValue(a.bio);
    await expect(p1.getByLabel('Email', { exact: true })).toHaveValue(a.email);
    await p1.getByLabel('Bio', { exact: true }).fill(bio);
    await p1.getByRole('button', { name: 'Save', exact: true }).click();
    await eventually(async () => (await api(request, 'GET', `/api/v1/users/${a.username}`)).json.bio === bio, 'bio saved');
    await p1.goto(`/u/${a.username}`);
    await expect(p1.getByText(bio)).toBeVisible();

    // Password change: the other session ends; the old password stops working.
    const newPassword = `${a.password}-changed`;
    await p1.goto('/settings');
    await p1.getByLabel('New password', { exact: true }).fill(newPassword);
    await p1.getByLabel('Current password', { exact: true }).fill(a.password);
    await p1.getByRole('button', { name: 'Save', exact: true }).click();
    await eventually(async () => (await api(request, 'GET', '/api/v1/auth/whoami', { as: { ...a, password: newPassword } })).status === 200, 'new password works');
    expect((await api(request, 'GET', '/api/v1/auth/whoami', { as: a })).status).toBe(401);
    // This session ends too ("a session that logging out or a password change ends").
    await p1.goto('/');
    await expect(logOutButton(p1)).toHaveCount(0);
    await p2.goto('/');
    await expect(logInLink(p2).first()).toBeVisible();
    await expect(logOutButton(p2)).toHaveCount(0);
    await logIn(p2, { ...a, password: newPassword });
    await c1.close();
    await c2.close();
  });

  test('deactivate account: behind a confirmation, then the account is gone', async ({ page, request }) => {
    const a = await createPerson(request, 'de');
    await logIn(page, a);
    await page.goto('/settings');
    // The first press only asks (a confirm dialog, dismissed here, or a confirmation page).
    const onDialog = (d) => d.dismiss().catch(() => {});
    page.on('dialog', onDialog);
    await page.getByRole('button', { name: 'Deactivate account', exact: true }).click();
    expect((await api(request, 'GET', `/api/v1/users/${a.username}`)).status, 'not deactivated without confirmation').toBe(200);
    page.off('dialog', onDialog);
    page.on('dialog', (d) => d.accept().catch(() => {}));
    await page.goto('/settings');
    await page.getByRole('button', { name: 'Deactivate account', exact: true }).click();
    // Confirm: on a confirmation page, the same button again.
    await expect(async () => {
      if ((await api(request, 'GET', `/api/v1/users/${a.username}`)).status !== 404) {
        await page.getByRole('button', { name: /Deactivate/ }).first().click({ timeout: 1000 });
      }
      expect((await api(request, 'GET', `/api/v1/users/${a.username}`)).status).toBe(404);
    }).toPass({ timeout: 10_000 });
    await page.goto('/');
    await expect(logOutButton(page)).toHaveCount(0);
    expect((await api(request, 'GET', '/api/v1/auth/whoami', { as: a })).status).toBe(401);
  });

  test('polls: create and vote', async ({ browser, request }) => {
    const a = await createPerson(request, 'pa');
    const b = await createPerson(request, 'pb');
    const ca = await browser.newContext();
    const pa = await ca.newPage();
    await logIn(pa, a);
    await pa.goto('/polls/new');
    const question = `Best bird, ${a.username}?`;
    await pa.getByLabel('Question', { exact: true }).fill(question);
    const options = pa.getByLabel(/^Option/);
    expect(await options.count()).toBeGreaterThanOrEqual(2);
    await options.nth(0).fill('Rook');
    await options.nth(1).fill('Magpie');
    await pa.getByRole('button', { name: 'Create poll', exact: true }).click();
    await expect(pa).toHaveURL(/\/polls\/\d+$/);
    const pollId = pa.url().match(/\/polls\/(\d+)$/)[1];
    await expect(pa.getByText(question).first()).toBeVisible();
    const poll = (await api(request, 'GET', `/api/v1/polls/${pollId}`, { expectStatus: 200 })).json;
    expect(poll.options.map((o) => o.text)).toEqual(['Rook', 'Magpie']);
    await expect(pa.getByRole('button', { name: /Vote/ })).toHaveCount(2);

    const cb = await browser.newContext();
    const pb = await cb.newPage();
    await logIn(pb, b);
    await pb.goto(`/polls/${pollId}`);
    const row = pb
      .locator('li, tr, div, form, p')
      .filter({ hasText: 'Magpie' })
      .filter({ has: pb.getByRole('button', { name: /Vote/ }) })
      .last();
    await row.getByRole('button', { name: /Vote/ }).click();
    await eventually(async () => (await api(request, 'GET', `/api/v1/polls/${pollId}`)).json.options[1].votes === 1, 'vote counted');
    await pb.goto(`/polls/${pollId}`);
    const magpie = pb.locator('li, tr, div, p').filter({ hasText: 'Magpie' }).filter({ hasNotText: 'Rook' }).last();
    await expect(magpie).toContainText(/\b1\b/);
    await ca.close();
    await cb.close();
  });

  test('sign-up and log-in errors are shown with the entered values kept', async ({ page, request }) => {
    const taken = await createPerson(request, 'tk');
    await page.goto('/signup');
    await page.getByLabel('Username', { exact: true }).fill(taken.username);
    await page.getByLabel('Email', { exact: true }).fill('someone.else@example.test');
    await page.getByLabel('Password', { exact: true }).fill('a-good-password');
    await page.getByLabel(/^Bio/).fill('my bio stays');
    await page.getByRole('button', { name: 'Sign up', exact: true }).click();
    await expect(page.getByText(/taken|already|in use|exists/i).first()).toBeVisible();
    await expect(page.getByLabel('Username', { exact: true })).toHaveValue(taken.username);
    await expect(page.getByLabel('Email', { exact: true })).toHaveValue('someone.else@example.test');
    await expect(page.getByLabel(/^Bio/)).toHaveValue('my bio stays');
    await expect(page.getByLabel('Password', { exact: true })).toHaveValue('');
    await expect(logOutButton(page)).toHaveCount(0);

    await page.goto('/login');
    await page.getByLabel('Username', { exact: true }).fill(taken.username);
    await page.getByLabel('Password', { exact: true }).fill('wrong-password-here');
    await page.getByRole('button', { name: 'Log in', exact: true }).click();
    await expect(page.getByText(/incorrect|invalid|wrong|bad|not match/i).first()).toBeVisible();
    await expect(page.getByLabel('Username', { exact: true })).toHaveValue(taken.username);
    await expect(page.getByLabel('Password', { exact: true })).toHaveValue('');
    await expect(logOutButton(page)).toHaveCount(0);
  });

  test('"More" pages through a long timeline', async ({ page, request }) => {
    const a = await createPerson(request, 'mo');
    const texts = [];
    for (let i = 0; i < 25; i++) {
      const t = `Numbered post ${i} of ${a.username}`;
      texts.push(t);
      await apiPost(request, a, { text: t });
    }
    await page.goto(`/u/${a.username}`);
    await expect(page.getByText(texts[24], { exact: true })).toBeVisible();
    await expect(page.getByText(texts[0], { exact: true })).toHaveCount(0);
    await page.getByRole('link', { name: 'More', exact: true }).click();
    await expect(page.getByText(texts[0], { exact: true })).toBeVisible();
  });

  test('logging out ends the session: its cookie no longer works', async ({ browser, request }) => {
    const a = await createPerson(request, 'lo');
    const c1 = await browser.newContext();
    const p1 = await c1.newPage();
    await logIn(p1, a);
    const cookies = await c1.cookies();
    expect(cookies.length).toBeGreaterThan(0);
    await logOut(p1);
    await p1.goto('/');
    await expect(logInLink(p1).first()).toBeVisible();
    // Replay the cookies of the ended session in a fresh browser.
    const c2 = await browser.newContext();
    await c2.addCookies(cookies);
    const p2 = await c2.newPage();
    await p2.goto('/');
    await expect(logInLink(p2).first()).toBeVisible();
    await expect(logOutButton(p2)).toHaveCount(0);
    await c1.close();
    await c2.close();
  });
});
