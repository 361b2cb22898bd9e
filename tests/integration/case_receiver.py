"""A stand-in for an outside system (the city grid platform): a real HTTP server on loopback
that receives the hotline's signed case events and can refuse the first few deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    fail_first: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)  # payloads answered 2xx
    refused: int = 0
    bad_signatures: int = 0
    keys: list[str] = field(default_factory=list)  # Idempotency-Key of every accepted delivery
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events_of(self, case_number: str) -> list[str]:
        with self.lock:
            return [p["type"] for p in self.accepted if p["case"]["number"] == case_number]


@contextmanager
def case_receiver(port: int, secret: str, fail_first: int = 0) -> Iterator[Received]:
    seen = Received(fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            stamp = self.headers.get("X-Hotline-Timestamp", "")
            sent = self.headers.get("X-Hotline-Signature", "").removeprefix("sha256=")
            key = self.headers.get("Idempotency-Key", "")
            wanted = hmac.new(secret.encode(), f"{stamp}.{key}.".encode() + body, hashlib.sha256).hexdigest()
            with seen.lock:
                if not hmac.compare_digest(sent, wanted):
                    seen.bad_signatures += 1
                    status = 401
                elif seen.refused < seen.fail_first:
                    seen.refused += 1
                    status = 503
                else:
                    seen.accepted.append(json.loads(body))
                    seen.keys.append(self.headers.get("Idempotency-Key", ""))
                    status = 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="case-receiver", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
