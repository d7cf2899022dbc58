"""toot 0.52.1 (the real CLI and its TUI) against Rookery's Mastodon origin.

Run by .ci/mastodon-clients, which creates the accounts and passes
MASTODON_URL, MC_PASSWORD and MC_RUN in the environment. toot's config and
cache live in a temporary HOME / XDG_CONFIG_HOME / XDG_CACHE_HOME, so the
user's own toot config is never touched. toot accepts an http:// instance URL
as given (toot/cli/validators.py validate_instance only adds https:// to a
bare domain), which is how it reaches the loopback server.

Every step asserts on what toot printed, not only on its exit status.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from suitelib import Suite, StepFailed, check, env, obtain_code

URL = env("MASTODON_URL").rstrip("/")
PASSWORD = env("MC_PASSWORD")
RUN = env("MC_RUN")
ALICE, BOB = "toot_alice", "toot_bob"
EMAIL = {ALICE: "toot_alice@example.com", BOB: "toot_bob@example.com"}
TAG = f"tootcheck{RUN}"

suite = Suite("toot")
home = tempfile.mkdtemp(prefix="rookery-toot-")
ENV = dict(
    os.environ,
    HOME=home,
    XDG_CONFIG_HOME=os.path.join(home, "config"),
    XDG_CACHE_HOME=os.path.join(home, "cache"),
    PYTHONUNBUFFERED="1",
    BROWSER="true",   # `toot login` may offer to open a browser; never a real one
    COLUMNS="100",
    LC_ALL="C.UTF-8",
)
ENV.pop("TOOT_TESTING", None)
last = {}


def diagnose():
    if not last:
        return []
    lines = [f"last command: {' '.join(last['cmd'][3:])}  (exit {last.get('rc')})"]
    out = last.get("stdout", "").strip().splitlines()
    err = last.get("stderr", "").strip().splitlines()
    if out:
        lines.append("stdout (tail):")
        lines += ["  " + line for line in out[-12:]]
    if err:
        lines.append("stderr (tail; toot --debug logs each request):")
        lines += ["  " + line for line in err[-20:]]
    return lines


suite.diagnose = diagnose


def toot_cmd(args, as_user=None, debug=True):
    # --debug makes toot log every request and response status to stderr,
    # which the failure report shows.
    cmd = [sys.executable, "-m", "toot"] + (["--debug"] if debug else []) + ["--no-color"]
    if as_user:
        cmd += ["--as", f"{as_user}@{domain['name']}"]
    return cmd + list(args)


def toot(*args, as_user=None, stdin="", timeout=60):
    cmd = toot_cmd(args, as_user)
    last.clear()
    last["cmd"] = cmd
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=ENV, timeout=timeout)
    last.update(rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr)
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        tail = next((line for line in reversed(err) if line.startswith("Error")), err[-1] if err else "")
        raise StepFailed(f"`toot {' '.join(args)}` exited {proc.returncode}: {tail}")
    return proc.stdout


def contains(out, *needles):
    for needle in needles:
        check(needle in out, f"expected {needle!r} in toot's output:\n{indent(out)}")


def indent(text, limit=40):
    lines = text.rstrip().splitlines()
    if len(lines) > limit:
        lines = lines[:limit] + [f"… ({len(lines) - limit} more lines)"]
    return "\n".join("      | " + line for line in lines)


def status_ids_with_text(out, text):
    """In `toot timeline` / `thread` output, the ids of the statuses whose text contains `text`.

    Each status is printed as: author line, content lines, blank, then
    `ID <id>  Visibility: …`; statuses are separated by a divider line."""
    ids = []
    for block in re.split(r"^─+$", out, flags=re.M):
        match = re.search(r"^ID (\S+)\s+Visibility:", block, re.M)
        if match and text in block:
            ids.append(match.group(1))
    return ids


domain = {}
texts = {
    "first": f"first toot post {RUN} #{TAG}",
    "reply": f"@{ALICE} toot reply {RUN}",
    "tui": f"toot tui check {RUN}",
}
ids = {}


# --- Logging in -------------------------------------------------------------

def step_instance():
    out = toot("instance", URL)
    contains(out, "running Mastodon 4.")


def step_login_cli():
    # The "Email" prompt gets the email address; .ci/mastodon-clients made the
    # account with it through the native API.
    out = toot("login_cli", "--instance", URL, "--email", EMAIL[ALICE], "--password", PASSWORD)
    contains(out, "Successfully logged in")
    _remember_domain()


def step_login_cli_username():
    out = toot("login_cli", "--instance", URL, "--email", ALICE, "--password", PASSWORD)
    contains(out, "Successfully logged in")
    _remember_domain()


def _remember_domain():
    with open(os.path.join(ENV["XDG_CONFIG_HOME"], "toot", "config.json")) as f:
        config = json.load(f)
    users = list(config["users"])
    check(users, "toot saved no user after logging in")
    domain["name"] = users[0].split("@", 1)[1]


def step_login_code():
    """`toot login`: prints the authorize URL, asks whether to open a browser
    (we answer n), then reads the code that the OOB page shows."""
    cmd = [sys.executable, "-m", "toot", "--debug", "--no-color", "login", "--instance", URL]
    last.clear()
    last["cmd"] = cmd
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)
    try:
        seen = []
        login_url = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if "/oauth/authorize" in line and line.strip().startswith("http"):
                login_url = line.strip()
                break
        check(login_url, "toot login printed no authorize URL:\n" + indent("".join(seen)))
        check(login_url.startswith(URL + "/oauth/authorize/?"), f"unexpected login URL {login_url}")
        flow = []
        try:
            code = obtain_code(login_url, BOB, PASSWORD, log=flow.append)
        except StepFailed as exc:
            raise StepFailed(f"{exc}\n" + "\n".join("      " + line for line in flow))
        out, err = proc.communicate(f"n\n{code}\n", timeout=60)
        last.update(rc=proc.returncode, stdout="".join(seen) + out, stderr=err)
        check(proc.returncode == 0, f"toot login exited {proc.returncode}: {err.strip().splitlines()[-1:]}")
        contains(out, "Successfully logged in")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def step_auth():
    out = toot("auth")
    contains(out, f"{ALICE}@{domain['name']}", f"{BOB}@{domain['name']}")


# --- Reading and writing ----------------------------------------------------

def step_whoami():
    for user in (ALICE, BOB):
        out = toot("whoami", as_user=user)
        contains(out, f"@{user}", "ID: ", "Since: ", "Followers: ")
        check(re.search(r"^ID: \S+", out, re.M), f"whoami printed no account id:\n{indent(out)}")


def step_follow():
    out = toot("follow", ALICE, as_user=BOB)
    contains(out, f"You are now following {ALICE}")


def step_post():
    out = toot("post", texts["first"], as_user=ALICE)
    check(re.search(r"^Toot posted: https?://\S+", out, re.M), f"expected 'Toot posted: <url>':\n{indent(out)}")


def step_timeline_home():
    # Home timelines are filled from the post's event (fan-out), a moment
    # after the post, as on Mastodon.
    for _ in range(10):
        out = toot("timeline", "--count", "20", as_user=BOB)
        found = status_ids_with_text(out, texts["first"])
        if found:
            break
        time.sleep(0.3)
    check(found, f"{BOB}'s home timeline (following {ALICE}) lacks {texts['first']!r}:\n{indent(out)}")
    contains(out, f"@{ALICE}")
    ids["first"] = found[0]


def step_timeline_public():
    out = toot("timeline", "--public", "--count", "20", as_user=BOB)
    check(status_ids_with_text(out, texts["first"]), f"public timeline lacks {texts['first']!r}:\n{indent(out)}")


def step_timeline_tag():
    out = toot("timeline", "--tag", TAG, "--count", "20", as_user=BOB)
    check(status_ids_with_text(out, texts["first"]) == [ids["first"]],
          f"#{TAG} timeline should show exactly the tagged post {ids['first']}:\n{indent(out)}")


def status_json(status_id, as_user):
    out = toot("status", status_id, "--json", as_user=as_user)
    try:
        return json.loads(out)
    except ValueError:
        raise StepFailed(f"`toot status --json` printed no JSON:\n{indent(out)}")


def step_reblog():
    out = toot("reblog", ids["first"], as_user=BOB)
    contains(out, "Status reblogged")
    status = status_json(ids["first"], BOB)
    check(status.get("reblogs_count") == 1, f"reblogs_count after one reblog: {status.get('reblogs_count')!r}")
    check(status.get("reblogged") is True, f"reblogged for the booster: {status.get('reblogged')!r}")


def step_favourite():
    out = toot("favourite", ids["first"], as_user=BOB)
    contains(out, "Status favourited")
    status = status_json(ids["first"], BOB)
    check(status.get("favourites_count") == 1, f"favourites_count after one favourite: {status.get('favourites_count')!r}")
    check(status.get("favourited") is True, f"favourited for the favouriter: {status.get('favourited')!r}")


def step_reply():
    out = toot("post", "--reply-to", ids["first"], texts["reply"], as_user=BOB)
    check(re.search(r"^Toot posted: https?://\S+", out, re.M), f"expected 'Toot posted: <url>':\n{indent(out)}")


def step_thread():
    out = toot("thread", ids["first"], as_user=ALICE)
    first = out.find(texts["first"])
    reply = out.find(f"toot reply {RUN}")
    check(first >= 0, f"thread lacks the original post:\n{indent(out)}")
    check(reply > first, f"thread should list the reply after the original post:\n{indent(out)}")
    check(re.search(rf"In reply to {re.escape(ids['first'])}", out),
          f"the reply is not marked 'In reply to {ids['first']}':\n{indent(out)}")


def step_notifications():
    out = toot("notifications", as_user=ALICE)
    expected = {
        "follow": f"@{BOB} now follows you",
        "reblog": f"@{BOB} boosted your status",
        "favourite": f"@{BOB} favourited your status",
        "post --reply-to": f"@{BOB} mentioned you",
    }
    # Only what the earlier steps did (a failed step is reported there).
    contains(out, *[text for step, text in expected.items() if step in suite.passed])
    check("Unknown notification type" not in last["stderr"],
          "toot warned about an unknown notification type:\n" + indent(last["stderr"]))


# --- toot tui under tmux -----------------------------------------------------

def step_tui():
    toot("post", texts["tui"], as_user=ALICE)
    tmux = shutil.which("tmux")
    check(tmux, "tmux is not installed")
    sock = os.path.join(home, "tmux.sock")
    session = "toottui"
    cmd = toot_cmd(["tui"], BOB, debug=False)  # no log lines over the screen
    # A private tmux server (-S) started from here, so toot sees this ENV.
    base = [tmux, "-S", sock]
    subprocess.run(base + ["new-session", "-d", "-s", session, "-x", "160", "-y", "45",
                           "--", *cmd], env=ENV, check=True, timeout=20)
    screens = []

    def capture():
        proc = subprocess.run(base + ["capture-pane", "-p", "-t", session], env=ENV,
                              capture_output=True, text=True, timeout=10)
        return proc.stdout

    try:
        deadline = time.monotonic() + 40
        dismissed = False
        screen = ""
        while time.monotonic() < deadline:
            time.sleep(0.5)
            alive = subprocess.run(base + ["has-session", "-t", session], env=ENV,
                                   capture_output=True, timeout=10).returncode == 0
            if not alive:
                raise StepFailed("toot tui exited early; last screen:\n" + indent(screen))
            screen = capture()
            if not dismissed and "Type 'dismiss'" in screen:
                # The deprecation notice of toot 0.52 (toot/cli/tui.py): Enter continues.
                subprocess.run(base + ["send-keys", "-t", session, "Enter"], env=ENV, timeout=10)
                dismissed = True
                continue
            if "An exception occurred" in screen:
                subprocess.run(base + ["send-keys", "-t", session, "x"], env=ENV, timeout=10)
                time.sleep(1)
                raise StepFailed("toot tui reported an exception (X pressed):\n" + indent(capture(), 45))
            if texts["tui"] in screen:
                break
        else:
            raise StepFailed(f"toot tui did not show {texts['tui']!r} within 40 s:\n" + indent(screen, 45))
        # The TUI shows authors as user@instance-domain.
        check(ALICE in screen, f"toot tui shows the post without its author {ALICE}:\n" + indent(screen, 45))
        # Give the start-up requests (instance, preferences, following) a moment to
        # finish, so an error they cause shows in the footer.
        time.sleep(2)
        screen = capture()
        screens.append(screen)
        if "An exception occurred" in screen:
            subprocess.run(base + ["send-keys", "-t", session, "x"], env=ENV, timeout=10)
            time.sleep(1)
            raise StepFailed("toot tui reported an exception after start-up (X pressed):\n" + indent(capture(), 45))
        subprocess.run(base + ["send-keys", "-t", session, "q"], env=ENV, timeout=10)
        for _ in range(20):
            time.sleep(0.5)
            if subprocess.run(base + ["has-session", "-t", session], env=ENV,
                              capture_output=True, timeout=10).returncode != 0:
                break
        else:
            raise StepFailed("toot tui did not quit on q:\n" + indent(capture(), 45))
    finally:
        subprocess.run(base + ["kill-server"], env=ENV, capture_output=True, timeout=10)


def main():
    try:
        suite.step("instance", step_instance)
        suite.step("login_cli (password grant, email)", step_login_cli)
        if "login_cli (password grant, email)" not in suite.passed:
            # Still try the username, so the rest of the suite can run.
            suite.step("login_cli (password grant, username)", step_login_cli_username)
        logged_a = [s for s in ("login_cli (password grant, email)", "login_cli (password grant, username)")
                    if s in suite.passed]
        need_a = tuple(logged_a[:1]) or ("login_cli (password grant, email)",)
        suite.step("login (authorization code from the OAuth page)", step_login_code, needs=need_a)
        both = need_a + ("login (authorization code from the OAuth page)",)
        suite.step("auth lists both accounts", step_auth, needs=both)
        suite.step("whoami", step_whoami, needs=both)
        suite.step("follow", step_follow, needs=both)
        suite.step("post", step_post, needs=need_a)
        suite.step("timeline (home)", step_timeline_home, needs=both + ("post", "follow"))
        posted = ("timeline (home)",)
        suite.step("timeline --public", step_timeline_public, needs=posted)
        suite.step("timeline --tag", step_timeline_tag, needs=posted)
        suite.step("reblog", step_reblog, needs=posted)
        suite.step("favourite", step_favourite, needs=posted)
        suite.step("post --reply-to", step_reply, needs=posted)
        suite.step("thread", step_thread, needs=("post --reply-to",))
        suite.step("notifications", step_notifications, needs=("follow",))
        suite.step("tui (home timeline under tmux)", step_tui, needs=both + ("follow",))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return suite.finish()


if __name__ == "__main__":
    sys.exit(main())
