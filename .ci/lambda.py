"""The client side of .ci/lambda: requests against the functions' URLs under
cargo-lambda's emulator, nats-py against the run's JetStream stream.

    python lambda.py http       sign-ups, credentials, the internal guard, a
                                post, kill -9 of the posts function right
                                after its answer, the post.created event on
                                the bus
    python lambda.py restarted  (the script restarted posts) posts answer
                                again, a query string, the events function
    python lambda.py sweep      streams of earlier runs that died (their pid)
    python lambda.py drop NAME  the run's stream

Everything comes from the environment .ci/lambda sets (LAMBDA_*, NATS_URL,
ROOKERY_NATS_STREAM, ROOKERY_NATS_PREFIX); what the second step needs of the
first is kept in $LAMBDA_STATE. One line per check on stdout; a failed
check raises and exits 1 with what came back.
"""

import asyncio
import datetime
import json
import os
import signal
import sys
import time

import nats
import requests
from nats.js.errors import NotFoundError

# A request that is never answered (a dead function) hangs under the
# emulator: every request has a deadline.
TIMEOUT = 30
PASSWORD = "lambda-ci-password"


class Failed(Exception):
    pass


def ok(what):
    print(f"ok: {what}", flush=True)


def expect(what, response, status):
    if response.status_code != status:
        raise Failed(f"{what}: HTTP {response.status_code} (wanted {status}): {response.text[:500]}")
    ok(f"{what}: {status}")
    return response


def json_of(what, response):
    try:
        return response.json()
    except ValueError:
        raise Failed(f"{what}: not JSON ({response.headers.get('content-type')}): {response.text[:300]}")


def env(name):
    value = os.environ.get(name)
    if not value:
        raise Failed(f"{name} is not set")
    return value


def state(update=None):
    path = env("LAMBDA_STATE")
    if update is None:
        with open(path) as f:
            return json.load(f)
    with open(path, "w") as f:
        json.dump(update, f)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


async def last_event(subject):
    """The last message on `subject` in the run's stream, or None."""
    nc = await nats.connect(env("NATS_URL"), connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=5)
        try:
            return await js.get_last_msg(env("ROOKERY_NATS_STREAM"), subject)
        except NotFoundError:
            return None
    finally:
        await nc.close()


def step_http():
    users, posts = env("LAMBDA_USERS_URL"), env("LAMBDA_POSTS_URL")
    s = requests.Session()

    expect("users GET /healthz", s.get(f"{users}/healthz", timeout=TIMEOUT), 200)

    for name in ("alice", "bob"):
        r = expect(f"users POST /api/v1/users ({name})",
                   s.post(f"{users}/api/v1/users", timeout=TIMEOUT,
                          json={"username": name, "email": f"{name}@example.com", "password": PASSWORD}),
                   201)
        if json_of("sign-up", r).get("username") != name:
            raise Failed(f"sign-up of {name} answered {r.text[:300]}")

    r = expect("users GET /api/v1/auth/whoami (Basic alice)",
               s.get(f"{users}/api/v1/auth/whoami", auth=("alice", PASSWORD), timeout=TIMEOUT), 200)
    if json_of("whoami", r).get("username") != "alice":
        raise Failed(f"whoami answered {r.text[:300]}")
    r = expect("users GET /api/v1/auth/whoami (wrong password)",
               s.get(f"{users}/api/v1/auth/whoami", auth=("alice", "not-the-password"), timeout=TIMEOUT), 401)
    body = json_of("whoami with a wrong password", r)
    if not (isinstance(body.get("error"), str) and body.get("code")):
        raise Failed(f"the 401 is not the API's JSON error: {r.text[:300]}")

    # The internal routes are reachable over the function URL: without a
    # service token they do not exist (the public route next to it does).
    expect("users GET /api/v1/users/alice", s.get(f"{users}/api/v1/users/alice", timeout=TIMEOUT), 200)
    r = expect("users GET /internal/v1/users/alice (no service token)",
               s.get(f"{users}/internal/v1/users/alice", timeout=TIMEOUT), 404)
    if "alice" in r.text:
        raise Failed(f"the unsigned internal call got alice's account: {r.text[:300]}")

    # posts checks alice's password by a signed call to the users
    # function's /internal/v1/authenticate, and looks @bob up the same way.
    pid = int(open(env("LAMBDA_POSTS_PID_FILE")).read())
    if not alive(pid):
        raise Failed(f"the posts function (pid {pid}) is not running")
    text = f"hello @bob from the posts function {time.time_ns()}"
    r = s.post(f"{posts}/api/v1/posts", auth=("alice", PASSWORD), json={"text": text}, timeout=TIMEOUT)
    answered = datetime.datetime.now(datetime.timezone.utc)
    # The outbox rule: the event is on the bus once the answer is out, so
    # nothing that runs after it (here: nothing at all) may be needed.
    os.kill(pid, signal.SIGKILL)
    ok(f"posts function (pid {pid}) killed with SIGKILL right after its answer")
    expect("posts POST /api/v1/posts (Basic alice, @bob)", r, 201)
    post = json_of("POST /api/v1/posts", r)
    if post.get("text") != text or post.get("author") != "alice":
        raise Failed(f"the new post is not alice's text: {r.text[:300]}")
    if "bob" not in post.get("mentions", []):
        raise Failed(f"@bob is not among the post's mentions (the users lookup failed?): {r.text[:300]}")
    ok("the post mentions bob")

    subject = f"{env('ROOKERY_NATS_PREFIX')}.post.created"
    msg = asyncio.run(last_event(subject))
    if msg is None:
        raise Failed(f"no {subject} in stream {env('ROOKERY_NATS_STREAM')} after the posts function died")
    event = json.loads(msg.data)
    if event.get("topic") != "post.created" or event.get("payload", {}).get("post_id") != post["id"]:
        raise Failed(f"the last {subject} is not post {post['id']}'s: {msg.data[:500]!r}")
    # The relay's retries are deduplicated by it.
    msg_id = (msg.headers or {}).get("Nats-Msg-Id")
    if msg_id != str(event.get("id")):
        raise Failed(f"Nats-Msg-Id {msg_id} is not the event id {event.get('id')}")
    # JetStream's clock is this machine's: stored before the answer came.
    if msg.time is None or msg.time > answered:
        raise Failed(f"post.created was stored at {msg.time}, after the answer arrived at {answered}")
    ok(f"{subject} for post {post['id']} in the stream (seq {msg.seq}), stored "
       f"{(answered - msg.time).total_seconds() * 1000:.1f} ms before the answer arrived")
    state({"post": post["id"], "text": text})


def step_restarted():
    posts, events = env("LAMBDA_POSTS_URL"), env("LAMBDA_EVENTS_URL")
    first = state()
    s = requests.Session()

    r = expect("restarted posts GET /api/v1/posts/<id>",
               s.get(f"{posts}/api/v1/posts/{first['post']}", timeout=TIMEOUT), 200)
    if json_of("GET the post", r).get("text") != first["text"]:
        raise Failed(f"the post read back is not the one written: {r.text[:300]}")
    second = expect("restarted posts POST /api/v1/posts (Basic alice)",
                    s.post(f"{posts}/api/v1/posts", auth=("alice", PASSWORD),
                           json={"text": "a second post, after the restart"}, timeout=TIMEOUT), 201).json()

    # Two posts; the query string reaches the function (limit=1: one of them).
    r = expect("posts GET /api/v1/users/alice/posts?limit=1",
               s.get(f"{posts}/api/v1/users/alice/posts?limit=1", timeout=TIMEOUT), 200)
    page = json_of("alice's posts", r)
    items = page.get("items")
    if not isinstance(items, list) or len(items) != 1 or items[0].get("id") != second["id"]:
        raise Failed(f"limit=1 did not give the newest post alone: {r.text[:500]}")
    if not page.get("next_cursor"):
        raise Failed(f"limit=1 of two posts has no next_cursor: {r.text[:500]}")
    ok("limit=1 gave 1 item and a next_cursor")

    # The events function, invoked as EventBridge's schedule would.
    scheduled = {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/rookery-posts-events"],
        "detail": {},
    }
    r = expect("events POST /2015-03-31/functions/rookery/invocations (Scheduled Event)",
               s.post(f"{events}/2015-03-31/functions/rookery/invocations", data=json.dumps(scheduled),
                      headers={"content-type": "application/json"}, timeout=TIMEOUT), 200)
    answer = json_of("the events function", r)
    published, pending = answer.get("published"), answer.get("pending")
    if answer.get("service") != "posts" or not isinstance(published, int) or isinstance(published, bool):
        raise Failed(f"the events function answered {r.text[:300]}")
    if not isinstance(pending, int) or isinstance(pending, bool):
        raise Failed(f"the events function read no consumer state (pending): {r.text[:300]}")
    ok(f"events function: {answer}")
    state({**first, "events": answer})


async def streams(drop=None, dead_runs_of=None):
    nc = await nats.connect(env("NATS_URL"), connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream(timeout=5)
        names = [drop] if drop else []
        if dead_runs_of:
            for info in await js.streams_info():
                name = info.config.name
                # <prefix><pid>_<random>: a run whose script is gone.
                if name.startswith(dead_runs_of):
                    pid = name[len(dead_runs_of):].split("_")[0]
                    if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                        names.append(name)
        for name in names:
            try:
                await js.delete_stream(name)
            except NotFoundError:
                pass
    finally:
        await nc.close()


def main():
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        if step == "http":
            step_http()
        elif step == "restarted":
            step_restarted()
        elif step == "sweep":
            asyncio.run(streams(dead_runs_of=sys.argv[2]))
        elif step == "drop":
            asyncio.run(streams(drop=sys.argv[2]))
        else:
            sys.exit(f"usage: {sys.argv[0]} http|restarted|sweep PREFIX|drop STREAM")
    except (Failed, requests.RequestException, OSError, nats.errors.Error, asyncio.TimeoutError) as e:
        print(f"FAILED: {type(e).__name__}: {e}" if not isinstance(e, Failed) else f"FAILED: {e}", flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
