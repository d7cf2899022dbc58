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
from moto.dynamodb.models.dynamo_type import DynamoType
import waitress
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

LOCK = threading.Lock()
# Requests served per DynamoDB operation (X-Amz-Target), for benchmarks:
# `GET /_rookery/stats` reads them, `DELETE /_rookery/stats` clears them.
COUNTS = {}
STATS_PATH = "/_rookery/stats"


class NoTableCopies:
    """moto's TransactWriteItems deep-copies every table it touches before
    the first action (once per action, in fact), to put the copy back if an
    action fails: measured, a send into a table of 40,000 items took about a
    second, so every benchmark measured the copy. Here the copy is the table
    itself, and `transact_write_items` below saves only the items the
    transaction names and puts those back on failure: the same rollback,
    since a transaction changes nothing else.
    """

    def __init__(self):
        self.active = False

    def __getattr__(self, name):
        # Everything else of the `copy` module, unchanged.
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        if self.active and isinstance(value, dynamodb_models.Table):
            return value
        return copy.deepcopy(value, memo)


BACKUPS = NoTableCopies()
dynamodb_models.copy = BACKUPS
_transact_write_items = dynamodb_models.DynamoDBBackend.transact_write_items
MISSING = object()


def saved_items(backend, transact_items):
    """(table, hash, range, copy of the item or MISSING) for each item the
    transaction names."""
    saved = []
    for entry in transact_items:
        _, op = next(iter(entry.items()))
        table = backend.tables.get(op.get("TableName"))
        attrs = op.get("Item") or op.get("Key") or {}
        if table is None or table.hash_key_attr not in attrs:
            continue
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                continue
            range_value = DynamoType(attrs[table.range_key_attr])
        current = table.get_item(hash_value, range_value)
        before = MISSING if current is None else copy.deepcopy(current)
        saved.append((table, hash_value, range_value, before))
    return saved


def restore(saved):
    for table, hash_value, range_value, before in reversed(saved):
        if range_value is None:
            if before is MISSING:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = before
        else:
            partition = table.items[hash_value]
            if before is MISSING:
                partition.pop(range_value, None)
                if not partition:
                    table.items.pop(hash_value, None)
            else:
                partition[range_value] = before


def transact_write_items(self, transact_items):
    # Requests run one at a time (LOCK), so one flag is enough.
    saved = saved_items(self, transact_items)
    BACKUPS.active = True
    try:
        return _transact_write_items(self, transact_items)
    except BaseException:
        restore(saved)
        raise
    finally:
        BACKUPS.active = False


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
