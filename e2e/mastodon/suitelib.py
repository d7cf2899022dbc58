"""Shared helpers of the Mastodon-client suites (run by .ci/mastodon-clients).

- `Suite`: runs named steps and prints one result line per step
  (`PASS suite: step`, `FAIL suite: step: why`, `SKIP suite: step: why`);
  .ci/mastodon-clients counts those lines. A step whose prerequisite step did
  not pass is skipped (named as blocked), so one server fault is reported once.
- `obtain_code`: drives the server's OAuth authorize HTML page the way a
  person in a browser would (cookies, the login form with its hidden CSRF
  field, an optional consent form) and returns the code shown on the
  out-of-band page.
- `env`: the settings that .ci/mastodon-clients passes in the environment.
"""

import html.parser
import http.cookiejar
import os
import re
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"{name} is not set (run the suites through .ci/mastodon-clients)")
    return value


class StepFailed(Exception):
    pass


class Suite:
    def __init__(self, name):
        self.name = name
        self.passed = set()
        self.counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        # A function returning extra lines (e.g. the last HTTP exchange) to
        # print under a failure.
        self.diagnose = None

    def _line(self, kind, step, detail=""):
        self.counts[kind] += 1
        text = f"{kind} {self.name}: {step}"
        if detail:
            text += f": {detail}"
        print(text, flush=True)

    def skip(self, step, why):
        self._line("SKIP", step, why)

    def fail(self, step, why):
        self._line("FAIL", step, why)

    def step(self, step, fn, needs=()):
        """Run fn(); PASS if it returns without raising. Returns fn's value, or None."""
        blocked = [n for n in needs if n not in self.passed]
        if blocked:
            self.skip(step, "blocked by failed step " + ", ".join(blocked))
            return None
        started = time.monotonic()
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            self.fail(step, f"{type(exc).__name__}: {one_line(exc)}")
            tb = traceback.extract_tb(exc.__traceback__)
            # The innermost frames: where the client (or the check) raised.
            for frame in tb[-4:]:
                print(f"    at {short_path(frame.filename)}:{frame.lineno} in {frame.name}: {frame.line}")
            if self.diagnose:
                try:
                    for extra in self.diagnose():
                        print("    " + extra)
                except Exception as diag_exc:  # noqa: BLE001
                    print(f"    (no diagnostics: {diag_exc})")
            sys.stdout.flush()
            return None
        elapsed = time.monotonic() - started
        self.passed.add(step)
        self._line("PASS", step, f"{elapsed:.1f}s" if elapsed >= 5 else "")
        return value

    def finish(self):
        c = self.counts
        print(f"{self.name}: {c['PASS']} passed, {c['FAIL']} failed, {c['SKIP']} skipped", flush=True)
        return 1 if c["FAIL"] else 0


def one_line(exc, limit=600):
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "…"


def short_path(path):
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    return os.path.basename(path)


def check(condition, message):
    if not condition:
        raise StepFailed(message)


# --- The OAuth authorize page ----------------------------------------------

class _Form:
    def __init__(self, attrs):
        self.action = attrs.get("action") or ""
        self.method = (attrs.get("method") or "get").lower()
        self.fields = []   # (kind, name, value, attrs) in document order
        self.buttons = []  # (name, value, label)


class _PageParser(html.parser.HTMLParser):
    """Collects forms, the element with id="code", <code> elements and meta tags."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.form = None
        self.code_by_id = None
        self.code_elements = []
        self.meta = {}
        self._capture = []   # stack of [tag, buffer, is_id_code]
        self._button = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs_list):
        attrs = {k: (v if v is not None else "") for k, v in attrs_list}
        if tag == "meta" and attrs.get("name"):
            self.meta[attrs["name"]] = attrs.get("content", "")
        if tag == "form":
            self.form = _Form(attrs)
            self.forms.append(self.form)
        is_id_code = attrs.get("id") == "code"
        if tag == "input":
            kind = (attrs.get("type") or "text").lower()
            if is_id_code and self.code_by_id is None and attrs.get("value"):
                self.code_by_id = attrs["value"]
            if self.form is not None:
                if kind in ("submit", "image"):
                    self.form.buttons.append((attrs.get("name"), attrs.get("value", ""), attrs.get("value", "")))
                elif kind not in ("button", "reset", "file"):
                    self.form.fields.append((kind, attrs.get("name"), attrs.get("value", ""), attrs))
            return
        if tag == "button" and self.form is not None:
            self._button = [attrs.get("name"), attrs.get("value", ""), "", (attrs.get("type") or "submit").lower()]
        if tag == "select" and self.form is not None:
            self._select = [attrs.get("name"), None, None]  # name, first, selected
        if tag == "option" and self._select is not None:
            value = attrs.get("value", "")
            if self._select[1] is None:
                self._select[1] = value
            if "selected" in attrs:
                self._select[2] = value
        if tag == "textarea":
            self._textarea = [attrs.get("name"), ""]
        if tag == "code" or is_id_code:
            self._capture.append([tag, [], is_id_code])

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        if tag == "button" and self._button is not None:
            name, value, label, kind = self._button
            if kind == "submit" and self.form is not None:
                self.form.buttons.append((name, value, label.strip()))
            self._button = None
        if tag == "select" and self._select is not None:
            name, first, selected = self._select
            if self.form is not None and name:
                self.form.fields.append(("select", name, selected if selected is not None else (first or ""), {}))
            self._select = None
        if tag == "textarea" and self._textarea is not None:
            if self.form is not None and self._textarea[0]:
                self.form.fields.append(("textarea", self._textarea[0], self._textarea[1], {}))
            self._textarea = None
        if self._capture and self._capture[-1][0] == tag:
            _, buf, is_id_code = self._capture.pop()
            text = "".join(buf).strip()
            if is_id_code and self.code_by_id is None and text:
                self.code_by_id = text
            elif tag == "code" and text:
                self.code_elements.append(text)

    def handle_data(self, data):
        for entry in self._capture:
            entry[1].append(data)
        if self._button is not None:
            self._button[2] += data
        if self._textarea is not None:
            self._textarea[1] += data


_LOGIN_NAME = re.compile(r"user|email|login|acct|account|name|identifier", re.I)
_APPROVE = re.compile(r"authori[sz]e|allow|approve|accept|grant|log\s*in|sign\s*in|continue|submit|\byes\b|\bok\b", re.I)
_DENY = re.compile(r"deny|cancel|reject|decline|refuse|\bno\b", re.I)


def _fill(form, login, password):
    data = []
    has_password = any(kind == "password" for kind, *_ in form.fields)
    login_done = False
    for kind, name, value, attrs in form.fields:
        if not name:
            continue
        if kind == "password":
            data.append((name, password))
        elif kind in ("text", "email", "username", "tel") and has_password and not login_done \
                and (_LOGIN_NAME.search(name) or not value):
            data.append((name, login))
            login_done = True
        elif kind in ("checkbox", "radio"):
            if "checked" in attrs:
                data.append((name, value or "on"))
        else:  # hidden (the CSRF token among them), select, textarea, prefilled text
            data.append((name, value))
    if has_password and not login_done:
        raise StepFailed("the login form has a password field but no user name / email field: "
                         + repr([(k, n) for k, n, *_ in form.fields]))
    buttons = form.buttons
    approve = [b for b in buttons if _is_approve(b)]
    chosen = approve[0] if approve else ([b for b in buttons if not _DENY.search(f"{b[1]} {b[2]}")] or [None])[0]
    if chosen is not None and chosen[0]:
        data.append((chosen[0], chosen[1]))
    return data, has_password


class _CatchCodeRedirect(urllib.request.HTTPRedirectHandler):
    """Follows http(s) redirects; a redirect elsewhere (the OOB URN, an app's
    custom scheme) that carries ?code= ends the flow with that code."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        parsed = urllib.parse.urlparse(newurl)
        if parsed.scheme not in ("http", "https"):
            query = urllib.parse.parse_qs(parsed.query)
            raise _CodeRedirect(query.get("code", [None])[0], newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _CodeRedirect(Exception):
    def __init__(self, code, url):
        super().__init__(url)
        self.code = code
        self.url = url


def obtain_code(authorize_url, login, password, timeout=30, log=None):
    """Log in on the authorize page at authorize_url and return the code it shows.

    `log`, if given, receives one line per HTTP exchange (for failure reports).
    """
    log = log if log is not None else (lambda line: None)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _CatchCodeRedirect())
    url, body = authorize_url, None
    logged_in = False
    for _ in range(6):
        request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
        if body is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        request.add_header("Accept", "text/html")
        try:
            with opener.open(request, timeout=timeout) as response:
                status, final_url = response.status, response.geturl()
                content_type = response.headers.get("Content-Type", "")
                page = response.read().decode("utf-8", "replace")
        except _CodeRedirect as redirect:
            log(f"{request.get_method()} {url} -> redirect {redirect.url}")
            if redirect.code:
                return redirect.code
            raise StepFailed(f"the authorize flow redirected to {redirect.url} without a code")
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", "replace")
            log(f"{request.get_method()} {url} -> HTTP {err.code}: {text[:300]!r}")
            raise StepFailed(f"{request.get_method()} {url} answered HTTP {err.code}: {' '.join(text.split())[:300]}")
        log(f"{request.get_method()} {url} -> HTTP {status} {content_type} ({len(page)} chars) at {final_url}")
        query = urllib.parse.parse_qs(urllib.parse.urlparse(final_url).query)
        parser = _PageParser()
        parser.feed(page)
        parser.close()
        code = parser.code_by_id or (parser.code_elements[0] if parser.code_elements else None)
        if code and (logged_in or not any(_has_password(f) for f in parser.forms)):
            return code
        if "code" in query and final_url != authorize_url:
            return query["code"][0]
        forms = [f for f in parser.forms if not logged_in and _has_password(f)] or \
                [f for f in parser.forms if not _has_password(f)]
        if not forms:
            snippet = " ".join(re.sub(r"<[^>]+>", " ", page).split())[:300]
            raise StepFailed(f"no code (no id=\"code\" / <code> element) and no form on the page at {final_url}: {snippet!r}")
        form = _pick_form(forms)
        data, was_login = _fill(form, login, password)
        logged_in = logged_in or was_login
        action = urllib.parse.urljoin(final_url, form.action or final_url)
        encoded = urllib.parse.urlencode(data)
        if form.method == "post":
            url, body = action, encoded.encode()
        else:
            sep = "&" if urllib.parse.urlparse(action).query else "?"
            url, body = action + sep + encoded, None
    raise StepFailed("the authorize flow did not show a code after 6 pages")


def _is_approve(button):
    name, value, label = button
    return bool(_APPROVE.search(f"{value} {label} {name or ''}")) and not _DENY.search(f"{value} {label}")


def _pick_form(forms):
    """The login form, or on a consent page the form whose button approves
    (Mastodon puts "Authorize" and "Deny" in separate forms)."""
    for form in forms:
        if any(_is_approve(b) for b in form.buttons):
            return form
    for form in forms:
        if not form.buttons or not all(_DENY.search(f"{b[1]} {b[2]}") for b in form.buttons):
            return form
    return forms[0]


def _has_password(form):
    return any(kind == "password" for kind, *_ in form.fields)


if __name__ == "__main__":
    # python suitelib.py AUTHORIZE_URL LOGIN PASSWORD  -> prints the code
    lines = []
    try:
        print(obtain_code(sys.argv[1], sys.argv[2], sys.argv[3], log=lines.append))
    except StepFailed as exc:
        print("\n".join(lines), file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
