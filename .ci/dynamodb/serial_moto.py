"""moto's DynamoDB server with its requests served one at a time.

Stock `moto_server` is not thread safe: measured, 1,000 concurrent ADD
updates kept 999, compare-and-set updates were lost and TransactWriteItems
answered 500. DynamoDB itself serializes conflicting writes, so concurrency
tests only mean something when the emulator does too: one lock around the
whole WSGI call, response body included.
"""

import logging
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, run_simple

LOCK = threading.Lock()


class Serialized:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        with LOCK:
            # The body is read inside the lock: moto builds it while called.
            return list(self.app(environ, start_response))


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 4566
    # One log line per request costs the serialized server a third of its rate.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = DomainDispatcherApplication(create_backend_app)
    # HTTP/1.1 keep-alive: werkzeug's HTTP/1.0 default closes every
    # connection, which pooled clients (the Rust SDK's hyper) trip over.
    WSGIRequestHandler.protocol_version = "HTTP/1.1"
    run_simple(
        host,
        port,
        Serialized(app),
        threaded=True,
        use_reloader=False,
        request_handler=WSGIRequestHandler,
    )


if __name__ == "__main__":
    main()
