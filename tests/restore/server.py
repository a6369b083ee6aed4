"""A local HTTP server standing in for an identity provider: it answers each
(method, path) with the replies a test queued (the providers' documented
answers, in tests/restore/providers/) and records every request as sent, so a
test checks the exact method, path, headers and body the console used."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    status: int
    body: object = None  # JSON, or bytes as they are
    headers: dict[str, str] = field(default_factory=dict)
    # Held until the test releases it: the console's client times out first.
    hold: threading.Event | None = None
    doc: str = ""  # the documentation page this answer follows


@dataclass
class Seen:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self):
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class ProviderServer:
    def __init__(self):
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(self.command, parts.path, parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()}, body)
                reply = outer._next(seen)
                if reply.hold is not None:
                    reply.hold.wait(10)
                payload = (reply.body if isinstance(reply.body, bytes)
                           else b"" if reply.body is None else json.dumps(reply.body).encode())
                try:
                    self.send_response_only(reply.status)
                    if "Date" not in reply.headers:
                        self.send_header("Date", self.date_time_string())
                    if payload:
                        self.send_header("Content-Type", "application/json")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting (a timeout test)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> ProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for queue in self.routes.values():
            for reply in queue:
                if reply.hold is not None:
                    reply.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def on(self, method: str, path: str, *replies: Reply) -> None:
        """Queue replies for (method, path): each request takes the next; the
        last one keeps answering."""
        with self._lock:
            self.routes.setdefault((method, path), []).extend(replies)

    def _next(self, seen: Seen) -> Reply:
        with self._lock:
            self.requests.append(seen)
            queue = self.routes.get((seen.method, seen.path))
            if not queue:
                return Reply(599, {"unexpected": f"{seen.method} {seen.path}"})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def calls(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r.method == method)
                    and (path is None or r.path == path)]
