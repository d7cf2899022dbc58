"""Mastodon.py 2.3.3 against Rookery's Mastodon origin.

Run by .ci/mastodon-clients, which creates the accounts (py_alice, py_bob,
py_carol) and passes MASTODON_URL, MC_PASSWORD and MC_RUN in the environment.
Each step asserts on the values the library returns. `allow_http=True` is
Mastodon.py's own switch for OAuth endpoints on a plain-http test server
(mastodon/internals.py __oauth_url_check); it only matters if the server
serves /.well-known/oauth-authorization-server.
"""

import sys
import threading
import time

import requests
from mastodon import Mastodon, StreamListener
from mastodon.errors import MastodonNotFoundError, MastodonUnauthorizedError, MastodonAPIError

from suitelib import Suite, StepFailed, check, env, obtain_code

URL = env("MASTODON_URL").rstrip("/")
PASSWORD = env("MC_PASSWORD")
RUN = env("MC_RUN")
ALICE, BOB, CAROL = "py_alice", "py_bob", "py_carol"
TAG = f"pycheck{RUN}"
PAGE_TAG = f"pypages{RUN}"
PAGE_COUNT = 45

suite = Suite("mastodon.py")
exchanges = []  # (method, url, status, response) of recent requests, for failure reports


def record(response, *args, **kwargs):
    exchanges.append((response.request.method, response.request.url, response.status_code, response))
    del exchanges[:-6]


def diagnose():
    lines = []
    for method, url, status, response in exchanges[-3:]:
        body = ""
        if getattr(response, "_content_consumed", False) and response._content:
            body = " ".join(response.content.decode("utf-8", "replace").split())[:400]
        lines.append(f"{method} {url} -> HTTP {status} {body}")
    return lines


suite.diagnose = diagnose


def session():
    s = requests.Session()
    s.hooks["response"].append(record)
    return s


def api(access_token=None):
    return Mastodon(client_id=app["id"], client_secret=app["secret"], access_token=access_token,
                    api_base_url=URL, session=session(), request_timeout=30)


def is_id(value):
    return isinstance(value, str) and value != ""


def ids_of(items):
    return [item.id for item in items]


app = {}
users = {}   # name -> Mastodon API object, logged in
me = {}      # name -> Account
st = {}      # name -> Status


# --- App and log-in -----------------------------------------------------------

def step_create_app():
    client_id, client_secret = Mastodon.create_app(
        "rookery-ci-mastodonpy", api_base_url=URL, website="https://example.com/rookery-ci",
        session=session(), request_timeout=30)
    check(is_id(client_id) and is_id(client_secret), f"create_app returned {client_id!r}, {client_secret!r}")
    app.update(id=client_id, secret=client_secret)


def step_password_login():
    for name in (ALICE, CAROL):
        m = api()
        token = m.log_in(username=name, password=PASSWORD, allow_http=True)
        check(is_id(token) and m.access_token == token, f"log_in returned {token!r}")
        users[name] = m


def step_code_login():
    m = api()
    url = m.auth_request_url(allow_http=True)
    check(url.startswith(URL + "/oauth/authorize?"), f"auth_request_url gave {url}")
    flow = []
    try:
        code = obtain_code(url, BOB, PASSWORD, log=flow.append)
    except StepFailed as exc:
        raise StepFailed(f"{exc}\n" + "\n".join("      " + line for line in flow))
    token = m.log_in(code=code, allow_http=True)
    check(is_id(token), f"log_in(code=…) returned {token!r}")
    users[BOB] = m


def step_verify_credentials():
    for name, m in users.items():
        account = m.account_verify_credentials()
        check(account.username == name, f"username {account.username!r}, expected {name!r}")
        check(account.acct == name, f"acct {account.acct!r}, expected the bare {name!r}")
        check(is_id(account.id), f"account id {account.id!r} is not a non-empty string")
        check(account.created_at is not None, "created_at missing or unparsable")
        me[name] = account


def step_instance():
    a = users[ALICE]
    instance = a.instance()  # v2 for a server that says >= 4.0.0
    check(str(instance.version).startswith("4."), f"instance version {instance.version!r}")
    v1 = a.instance_v1()
    check(v1.uri, f"v1 instance uri {v1.uri!r}")
    check(a.verify_minimum_version("4.3.0", cached=True), "the version is not parsed as >= 4.3.0")


# --- Statuses ---------------------------------------------------------------

def step_status_post():
    text = f"python post {RUN} #{TAG}"
    s = users[ALICE].status_post(text)
    check(is_id(s.id), f"status id {s.id!r} is not a non-empty string")
    check(f"python post {RUN}" in s.content, f"content {s.content!r} lacks the text")
    check(s.visibility == "public", f"visibility {s.visibility!r}")
    check(s.account.id == me[ALICE].id, f"status account {s.account.id!r} != {me[ALICE].id!r}")
    check(s.created_at is not None, "created_at missing or unparsable")
    st["first"] = s


def step_status():
    s = users[BOB].status(st["first"].id)
    check(s.id == st["first"].id and f"python post {RUN}" in s.content, f"status() gave {s.id!r} {s.content!r}")


def step_follow():
    rel = users[BOB].account_follow(me[ALICE].id)
    check(rel.following is True, f"relationship.following after follow: {rel.following!r}")
    check(rel.id == me[ALICE].id, f"relationship.id {rel.id!r}, expected {me[ALICE].id!r}")
    rels = users[BOB].account_relationships([me[ALICE].id])
    check(len(rels) == 1 and rels[0].following is True, f"account_relationships: {rels!r}")
    back = users[ALICE].account_relationships(me[BOB].id)
    check(back[0].followed_by is True, f"followed_by for the followee: {back[0].followed_by!r}")


def step_reply():
    r = users[BOB].status_post(f"@{ALICE} python reply {RUN}", in_reply_to_id=st["first"].id)
    check(r.in_reply_to_id == st["first"].id, f"in_reply_to_id {r.in_reply_to_id!r}, expected {st['first'].id!r}")
    st["reply"] = r


def step_context():
    c = users[ALICE].status_context(st["first"].id)
    check(st["reply"].id in ids_of(c.descendants), f"descendants {ids_of(c.descendants)} lack the reply {st['reply'].id}")
    c2 = users[ALICE].status_context(st["reply"].id)
    check(st["first"].id in ids_of(c2.ancestors), f"ancestors {ids_of(c2.ancestors)} lack {st['first'].id}")


def step_poll():
    a, b = users[ALICE], users[BOB]
    s = a.status_post(f"python poll {RUN}", poll=a.make_poll(["yes", "no"], expires_in=3600))
    check(s.poll is not None, "the status has no poll")
    check([o.title for o in s.poll.options] == ["yes", "no"], f"poll options {s.poll.options!r}")
    check(is_id(s.poll.id), f"poll id {s.poll.id!r}")
    p = b.poll(s.poll.id)
    check(p.id == s.poll.id and p.voted is False, f"poll() before voting: id {p.id!r} voted {p.voted!r}")
    voted = b.poll_vote(s.poll.id, 0)
    check(voted.voted is True and list(voted.own_votes) == [0], f"after voting: voted {voted.voted!r} own_votes {voted.own_votes!r}")
    check(voted.votes_count == 1 and voted.options[0].votes_count == 1,
          f"after one vote: votes_count {voted.votes_count!r}, option 0 {voted.options[0].votes_count!r}")
    st["poll"] = s


def step_direct():
    d = users[ALICE].status_post(f"@{BOB} python direct {RUN}", visibility="direct")
    check(d.visibility == "direct", f"visibility {d.visibility!r}")
    st["direct"] = d


def step_conversations():
    convs = users[BOB].conversations()
    last_ids = [c.last_status.id for c in convs if c.last_status is not None]
    check(st["direct"].id in last_ids, f"no conversation whose last_status is the direct status {st['direct'].id}: {last_ids}")
    conv = next(c for c in convs if c.last_status is not None and c.last_status.id == st["direct"].id)
    check(me[ALICE].id in [acc.id for acc in conv.accounts], f"conversation accounts {[acc.acct for acc in conv.accounts]} lack {ALICE}")


def step_reblog():
    b = users[BOB]
    wrapper = b.status_reblog(st["first"].id)
    check(wrapper.reblog is not None and wrapper.reblog.id == st["first"].id,
          f"status_reblog should return a wrapper whose reblog is {st['first'].id}: reblog={getattr(wrapper.reblog, 'id', None)!r}")
    check(wrapper.account.id == me[BOB].id, f"the wrapper's account {wrapper.account.id!r} is not the booster")
    after = b.status(st["first"].id)
    check(after.reblogs_count == 1 and after.reblogged is True,
          f"after reblog: reblogs_count {after.reblogs_count!r} reblogged {after.reblogged!r}")
    undone = b.status_unreblog(st["first"].id)
    check(undone.id == st["first"].id, f"status_unreblog returned {undone.id!r}")
    after = b.status(st["first"].id)
    check(after.reblogs_count == 0 and not after.reblogged,
          f"after unreblog: reblogs_count {after.reblogs_count!r} reblogged {after.reblogged!r}")
    b.status_reblog(st["first"].id)  # keep one, for the notifications step


def step_favourite():
    b = users[BOB]
    fav = b.status_favourite(st["first"].id)
    check(fav.favourites_count == 1 and fav.favourited is True,
          f"status_favourite: favourites_count {fav.favourites_count!r} favourited {fav.favourited!r}")
    unfav = b.status_unfavourite(st["first"].id)
    check(unfav.favourites_count == 0 and not unfav.favourited,
          f"status_unfavourite: favourites_count {unfav.favourites_count!r} favourited {unfav.favourited!r}")
    b.status_favourite(st["first"].id)  # keep one, for the notifications step


def step_edit():
    s = users[ALICE].status_post(f"python to edit {RUN}")
    e = users[ALICE].status_update(s.id, f"python edited {RUN}")
    check(e.id == s.id, f"status_update returned id {e.id!r}, expected {s.id!r}")
    check(f"python edited {RUN}" in e.content, f"edited content {e.content!r}")
    check(e.edited_at is not None, "edited_at is not set after an edit")
    check(f"python edited {RUN}" in users[BOB].status(s.id).content, "status() does not show the edit")


def step_delete():
    s = users[ALICE].status_post(f"python to delete {RUN}")
    deleted = users[ALICE].status_delete(s.id)
    check(deleted.id == s.id, f"status_delete returned {getattr(deleted, 'id', deleted)!r}")
    try:
        users[ALICE].status(s.id)
    except MastodonNotFoundError:
        return
    raise StepFailed("status() still finds the deleted status")


# --- Timelines and accounts ---------------------------------------------------

def step_timeline_home():
    # Home timelines are filled from the post's event (fan-out), a moment
    # after the post, as on Mastodon.
    for _ in range(50):
        home = users[BOB].timeline_home(limit=40)
        if st["first"].id in ids_of(home):
            break
        time.sleep(0.2)
    check(st["first"].id in ids_of(home), f"{BOB}'s home timeline lacks {ALICE}'s post {st['first'].id}")
    check(all(is_id(s.id) for s in home), "a status id is not a string")


def step_timeline_public():
    public = users[BOB].timeline_public(limit=40)
    check(st["first"].id in ids_of(public), f"public timeline lacks {st['first'].id}")
    check(st["direct"].id not in ids_of(public) if "direct" in st else True, "the direct status is in the public timeline")


def step_timeline_hashtag():
    tagged = users[BOB].timeline_hashtag(TAG)
    check(ids_of(tagged) == [st["first"].id], f"#{TAG} timeline: {ids_of(tagged)}, expected [{st['first'].id}]")


def step_accounts():
    b = users[BOB]
    acc = b.account(me[ALICE].id)
    check(acc.id == me[ALICE].id and acc.username == ALICE, f"account(): {acc.id!r} {acc.username!r}")
    found = b.account_lookup(ALICE)
    check(found.id == me[ALICE].id, f"account_lookup: {found.id!r}")
    statuses = b.account_statuses(me[ALICE].id)
    check(st["first"].id in ids_of(statuses), f"account_statuses lacks {st['first'].id}")
    check(all(s.account.id == me[ALICE].id for s in statuses), "account_statuses has someone else's status")
    followers = b.account_followers(me[ALICE].id)
    check(me[BOB].id in ids_of(followers), f"account_followers of {ALICE}: {[a.acct for a in followers]}")
    following = b.account_following(me[BOB].id)
    check(me[ALICE].id in ids_of(following), f"account_following of {BOB}: {[a.acct for a in following]}")


def step_block_mute():
    c = users[CAROL]
    rel = c.account_block(me[BOB].id)
    check(rel.blocking is True, f"blocking after account_block: {rel.blocking!r}")
    rel = c.account_unblock(me[BOB].id)
    check(rel.blocking is False, f"blocking after account_unblock: {rel.blocking!r}")
    rel = c.account_mute(me[BOB].id)
    check(rel.muting is True, f"muting after account_mute: {rel.muting!r}")
    check(c.account_relationships(me[BOB].id)[0].muting is True, "account_relationships does not show the mute")
    rel = c.account_unmute(me[BOB].id)
    check(rel.muting is False, f"muting after account_unmute: {rel.muting!r}")


def step_unfollow():
    rel = users[CAROL].account_follow(me[ALICE].id)
    check(rel.following is True, f"following after follow: {rel.following!r}")
    rel = users[CAROL].account_unfollow(me[ALICE].id)
    check(rel.following is False, f"following after account_unfollow: {rel.following!r}")


def step_notifications():
    a = users[ALICE]
    wanted = ("follow", "favourite", "reblog", "mention")
    # Notifications are made from events, a moment after the actions.
    for _ in range(50):
        notes = a.notifications()
        types = {n.type for n in notes}
        if all(t in types for t in wanted):
            break
        time.sleep(0.2)
    for expected in wanted:
        check(expected in types, f"no {expected!r} notification; types seen: {sorted(types)}")
    check(all(is_id(n.id) for n in notes), "a notification id is not a string")
    follows = a.notifications(types=["follow"])
    check(follows and {n.type for n in follows} == {"follow"}, f"types=[follow] gave {[n.type for n in follows]}")
    check(me[BOB].id in [n.account.id for n in follows], "the follow notification is not from the follower")
    others = a.notifications(exclude_types=["follow", "mention"])
    check(others and not {n.type for n in others} & {"follow", "mention"},
          f"exclude_types=[follow, mention] gave {[n.type for n in others]}")
    fav = next(n for n in notes if n.type == "favourite")
    check(fav.status is not None and fav.status.id == st["first"].id, "the favourite notification does not carry the status")


def step_notifications_clear():
    a = users[ALICE]
    a.notifications_clear()
    left = a.notifications()
    check(len(left) == 0, f"{len(left)} notifications left after notifications_clear")


def step_search():
    b = users[BOB]
    r = b.search_v2(ALICE, result_type="accounts")
    check(me[ALICE].id in ids_of(r.accounts), f"search accounts for {ALICE}: {[a.acct for a in r.accounts]}")
    r = b.search_v2(f"python post {RUN}", result_type="statuses")
    check(st["first"].id in ids_of(r.statuses), f"search statuses: {ids_of(r.statuses)}, expected {st['first'].id}")
    r = b.search_v2(TAG, result_type="hashtags")
    check(TAG in [h.name.lower() for h in r.hashtags], f"search hashtags: {[h.name for h in r.hashtags]}")
    r = b.search_v2(ALICE)
    check(isinstance(r.statuses, list) and isinstance(r.hashtags, list) and me[ALICE].id in ids_of(r.accounts),
          "untyped search_v2 should return accounts, statuses and hashtags")


def step_misc():
    a = users[ALICE]
    prefs = a.preferences()
    check("posting:default:visibility" in prefs, f"preferences: {dict(prefs)!r}")
    emojis = a.custom_emojis()
    check(isinstance(emojis, list), f"custom_emojis: {emojis!r}")
    markers = a.markers_get()
    check(isinstance(markers, dict), f"markers_get: {markers!r}")


# --- Pagination ---------------------------------------------------------------

def step_post_many():
    c = users[CAROL]
    posted = []
    for i in range(PAGE_COUNT):
        posted.append(c.status_post(f"python page {i} {RUN} #{PAGE_TAG}").id)
    check(len(set(posted)) == PAGE_COUNT, "duplicate ids among the posted statuses")
    st["pages"] = posted


def check_all_once(seen, what):
    expected = list(reversed(st["pages"]))
    check(len(seen) == len(set(seen)), f"{what}: {len(seen) - len(set(seen))} ids seen twice")
    check(set(seen) == set(expected), f"{what}: {len(set(seen) & set(expected))} of {PAGE_COUNT} ids seen, "
          f"{len(set(seen) - set(expected))} unexpected")
    check(seen == expected, f"{what}: not newest first: {seen[:5]}…")


def step_fetch_next():
    c = users[CAROL]
    first = c.account_statuses(me[CAROL].id, limit=20)
    check(len(first) == 20, f"first page has {len(first)} statuses, expected 20")
    second = c.fetch_next(first)
    check(second is not None and len(second) == 20, f"fetch_next gave {None if second is None else len(second)} statuses, expected 20")
    third = c.fetch_next(second)
    check(third is not None and len(third) == 5, f"third page: {None if third is None else len(third)} statuses, expected 5")
    check_all_once(ids_of(first) + ids_of(second) + ids_of(third), "account_statuses + fetch_next")
    back = c.fetch_previous(second)
    check(back is not None and ids_of(back) == ids_of(first),
          f"fetch_previous(page 2) should give page 1: {None if back is None else ids_of(back)[:3]}… vs {ids_of(first)[:3]}…")
    # From page 3, min_id must give the 20 statuses just above it (page 2), not the newest 20.
    back = c.fetch_previous(third)
    check(back is not None and ids_of(back) == ids_of(second),
          f"fetch_previous(page 3) should give page 2 (min_id = the page just newer): "
          f"{None if back is None else ids_of(back)[:3]}… vs {ids_of(second)[:3]}…")


def step_fetch_remaining():
    c = users[CAROL]
    everything = c.fetch_remaining(c.timeline_hashtag(PAGE_TAG, limit=20))
    check_all_once(ids_of(everything), f"timeline_hashtag(#{PAGE_TAG}) + fetch_remaining")
    everything = c.fetch_remaining(c.account_statuses(me[CAROL].id, limit=20))
    check_all_once(ids_of(everything), "account_statuses + fetch_remaining")


# --- Streaming ----------------------------------------------------------------

class Listener(StreamListener):
    def __init__(self, wanted):
        super().__init__()
        self.wanted = wanted
        self.got = threading.Event()
        self.updates = []
        self.errors = []

    def on_update(self, status):
        self.updates.append(status)
        if self.wanted in (status.content or ""):
            self.got.set()

    def on_abort(self, err):
        self.errors.append(repr(err))

    def on_websocket_error(self, error, for_stream=None):
        self.errors.append(f"websocket error for {for_stream}: {error!r}")

    def on_unknown_event(self, name, unknown_event=None):
        pass


def wait_for_update(listener, what):
    # Give the server a moment to register the subscription, then post.
    time.sleep(1.0)
    users[ALICE].status_post(listener.wanted)
    if not listener.got.wait(15):
        raise StepFailed(f"{what}: no `update` with {listener.wanted!r} within 15 s after posting; "
                         f"updates seen: {[u.content for u in listener.updates]}; errors: {listener.errors}")


def step_stream_sse():
    listener = Listener(f"python sse {RUN}")
    handle = users[BOB].stream_user(listener, run_async=True, timeout=30)
    try:
        deadline = time.monotonic() + 15
        while handle.connection is None and handle.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        check(handle.connection is not None, f"the SSE stream did not connect; errors: {listener.errors}")
        check(handle.connection.status_code == 200, f"SSE /api/v1/streaming/user: HTTP {handle.connection.status_code}")
        wait_for_update(listener, "SSE stream_user")
    finally:
        # Mastodon.py's close() returns only when the reader thread wakes up,
        # i.e. at the server's next heartbeat (~15 s): the step's time, not a fault.
        handle.close()


def step_stream_websocket():
    listener = Listener(f"python websocket {RUN}")
    handle = users[BOB].stream_open_websocket(listener, timeout=30)
    try:
        users[BOB].stream_user(listener, websocket_handle=handle)
        wait_for_update(listener, "WebSocket stream_user")
    finally:
        handle.close()


def step_stream_health():
    check(users[BOB].stream_healthy(), "stream_healthy() is False")


def step_revoke():
    m = api()
    token = m.log_in(username=ALICE, password=PASSWORD, allow_http=True)
    m.account_verify_credentials()
    m.revoke_access_token(allow_http=True)
    check(m.access_token is None, "the token is still set after revoke")
    try:
        api(access_token=token).account_verify_credentials()
    except MastodonUnauthorizedError:
        return
    except MastodonAPIError as exc:
        if len(exc.args) > 1 and exc.args[1] in (401, 403):
            return
        raise
    raise StepFailed("the revoked token still works for account_verify_credentials")


def main():
    s = suite.step
    s("create_app", step_create_app)
    s("log_in (password grant)", step_password_login, needs=("create_app",))
    s("log_in (code grant via the OAuth page)", step_code_login, needs=("create_app",))
    logged = ("log_in (password grant)", "log_in (code grant via the OAuth page)")
    s("account_verify_credentials", step_verify_credentials, needs=logged)
    base = ("account_verify_credentials",)
    s("instance", step_instance, needs=base)
    s("status_post", step_status_post, needs=base)
    posted = ("status_post",)
    s("status", step_status, needs=posted)
    s("account_follow + account_relationships", step_follow, needs=base)
    s("status_post in_reply_to_id", step_reply, needs=posted)
    s("status_context", step_context, needs=("status_post in_reply_to_id",))
    s("status_post with poll + poll + poll_vote", step_poll, needs=base)
    s("status_post visibility=direct", step_direct, needs=base)
    s("conversations", step_conversations, needs=("status_post visibility=direct",))
    s("status_reblog / status_unreblog", step_reblog, needs=posted)
    s("status_favourite / status_unfavourite", step_favourite, needs=posted)
    s("status_update (edit)", step_edit, needs=base)
    s("status_delete", step_delete, needs=base)
    s("timeline_home", step_timeline_home, needs=posted + ("account_follow + account_relationships",))
    s("timeline_public", step_timeline_public, needs=posted)
    s("timeline_hashtag", step_timeline_hashtag, needs=posted)
    s("account / account_lookup / account_statuses / followers / following", step_accounts,
      needs=posted + ("account_follow + account_relationships",))
    s("account_block/unblock, account_mute/unmute", step_block_mute, needs=base)
    s("account_unfollow", step_unfollow, needs=base)
    s("notifications (types / exclude_types)", step_notifications,
      needs=("account_follow + account_relationships", "status_reblog / status_unreblog",
             "status_favourite / status_unfavourite", "status_post in_reply_to_id"))
    s("notifications_clear", step_notifications_clear, needs=base)
    s("search_v2 (accounts, statuses, hashtags)", step_search, needs=posted)
    s("preferences / custom_emojis / markers_get", step_misc, needs=base)
    s(f"post {PAGE_COUNT} statuses", step_post_many, needs=base)
    s("fetch_next / fetch_previous", step_fetch_next, needs=(f"post {PAGE_COUNT} statuses",))
    s("fetch_remaining", step_fetch_remaining, needs=(f"post {PAGE_COUNT} statuses",))
    s("stream_healthy", step_stream_health, needs=base)
    s("stream_user over SSE", step_stream_sse, needs=("account_follow + account_relationships",))
    s("stream_user over WebSocket", step_stream_websocket, needs=("account_follow + account_relationships",))
    s("revoke_access_token", step_revoke, needs=("log_in (password grant)",))
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
