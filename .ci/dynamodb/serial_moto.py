"""moto's DynamoDB server with its requests served one at a time.

Stock `moto_server` is not thread safe: measured, 1,000 concurrent ADD
updates kept 999, compare-and-set updates were lost and TransactWriteItems
answered 500. DynamoDB itself serializes conflicting writes, so concurrency
tests only mean something when the emulator does too: one lock around the
whole WSGI call, response body included.

Served by waitress, not werkzeug's development server: werkzeug answers
every request with `Connection: close` and a 128-connection backlog, and
pooled clients sending hundreds of requests at once (the Rust SDK's hyper)
saw connections dropped mid-request; waitress keeps connections alive.
"""

import json
import logging
import sys
import threading

import copy

import moto.dynamodb.models as dynamodb_models
import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

LOCK = threading.Lock()
# Requests served per DynamoDB operation (X-Amz-Target), for benchmarks:
# `GET /_rookery/stats` reads them, `DELETE /_rookery/stats` clears them.
COUNTS = {}
STATS_PATH = "/_rookery/stats"


class OneBackupPerTable:
    """moto's TransactWriteItems backs up the whole table once per action
    (five deep copies of the table for a five-action send), which made a
    transaction cost in proportion to the table times its actions. The
    backups are all taken before any action runs, so one copy per table is
    the same rollback: within a transaction, a table's first copy is reused.
    """

    def __init__(self):
        self.copies = None

    def __getattr__(self, name):
        # Everything else of the `copy` module, unchanged.
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        if self.copies is None or not isinstance(value, dynamodb_models.Table):
            return copy.deepcopy(value, memo)
        if id(value) not in self.copies:
            self.copies[id(value)] = copy.deepcopy(value)
        return self.copies[id(value)]


BACKUPS = OneBackupPerTable()
dynamodb_models.copy = BACKUPS
_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items


def transact_write_items(self, transact_items):
    # Requests run one at a time (LOCK), so one map of copies is enough.
    BACKUPS.copies = {}
    try:
        return _transact_write_items(self, transact_items)
    finally:
        BACKUPS.copies = None


dynamodb_models.DynamoDBBackend.transact_write_items = transact_write_items


class Serialized:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == STATS_PATH:
            return self.stats(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "").rsplit(".", 1)[-1] or "other"
        with LOCK:
            COUNTS[target] = COUNTS.get(target, 0) + 1
            # The body is read inside the lock: moto builds it while called.
            return list(self.app(environ, start_response))

    def stats(self, environ, start_response):
        with LOCK:
            body = json.dumps(COUNTS, sort_keys=True).encode()
            if environ.get("REQUEST_METHOD") == "DELETE":
                COUNTS.clear()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 4566
    # Its queue warnings would flood the log under deliberate bursts.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    waitress.serve(
        Serialized(app),
        host=host,
        port=port,
        # Requests wait on the lock anyway; a few threads keep the next
        # one parsed and ready.
        threads=4,
        backlog=2048,
        connection_limit=2000,
        channel_timeout=300,
        ident="moto",
    )


if __name__ == "__main__":
    main()
