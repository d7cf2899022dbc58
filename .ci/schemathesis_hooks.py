"""Schemathesis hooks for `.ci/schemathesis` (loaded through SCHEMATHESIS_HOOKS).

1. The test identity. Every request carries `Authorization: Bearer <token>` of
   an account made for the run. The API lets a caller end its own credentials
   (DELETE /api/v1/auth/token, a new password through PATCH
   /api/v1/users/{username}, DELETE /api/v1/users/{username}); when a
   generated request does that, the next one gets a fresh account and token,
   so nothing after it is tested with dead credentials.

2. A recipient. POST /api/v1/messages needs an existing `to`, which random
   names never are; every other positive case is sent to a peer account made
   for the run, so messages exist and the operations on them get tested.

3. Opaque list cursors. `cursor` is whatever a previous page's `next_cursor`
   was (API.md: "opaque"); a made-up one is answered 400 `invalid_input`,
   which is right, but no schema can describe which strings a server issued.
   Positive (schema-valid) cases therefore leave `cursor` out; negative cases
   keep whatever was generated.
"""

from __future__ import annotations

import os
import threading
import uuid

import requests
import schemathesis
from schemathesis import GenerationMode

BASE_URL = os.environ["ROOKERY_ST_URL"].rstrip("/")


class Identity:
    """The account the run authenticates as; replaced when a request ends it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.username: str | None = None
        self.token: str | None = None
        self.accounts = 0

    def current(self) -> tuple[str, str]:
        with self.lock:
            if self.token is None:
                self._provision()
            assert self.username is not None and self.token is not None
            return self.username, self.token

    def retire(self, token: str | None = None, username: str | None = None) -> None:
        with self.lock:
            if (token is not None and token == self.token) or (
                username is not None and self.username is not None
                and username.strip().lower() == self.username.lower()
            ):
                self.token = None

    def _provision(self) -> None:
        self.accounts += 1
        self.username, password = register(f"st_{self.accounts}")
        r = requests.post(f"{BASE_URL}/api/v1/auth/token", auth=(self.username, password), timeout=30)
        r.raise_for_status()
        self.token = r.json()["access_token"]


def register(prefix: str) -> tuple[str, str]:
    username = f"{prefix}_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    r = requests.post(
        f"{BASE_URL}/api/v1/users",
        json={"username": username, "email": f"{username}@example.com", "password": password},
        timeout=30,
    )
    r.raise_for_status()
    return username, password


IDENTITY = Identity()
PEER: list[str] = []
SENT = [0]


@schemathesis.auth(refresh_interval=None)
class RookeryBearer:
    def get(self, case, ctx):
        return IDENTITY.current()[1]

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.hook
def after_call(context, case, response):
    if not 200 <= response.status_code < 300:
        return
    method = case.method.upper()
    if case.path == "/api/v1/auth/token" and method == "DELETE":
        sent = response.request.headers.get("Authorization", "")
        IDENTITY.retire(token=sent.removeprefix("Bearer ").strip())
    elif case.path == "/api/v1/users/{username}" and method in ("PATCH", "DELETE"):
        username = (case.path_parameters or {}).get("username")
        if isinstance(username, str):
            IDENTITY.retire(username=username)


@schemathesis.hook
def map_case(context, case):
    if case.meta is None or case.meta.generation.mode != GenerationMode.POSITIVE:
        return case
    if case.query:
        case.query.pop("cursor", None)
    if case.method.upper() == "POST" and case.path == "/api/v1/messages" and isinstance(case.body, dict):
        SENT[0] += 1
        if SENT[0] % 2 == 0:
            if not PEER:
                PEER.append(register("st_peer")[0])
            case.body["to"] = PEER[0]
    return case
