"""A hostile provider on loopback for the security tests: each test scripts the raw HTTP answers.

`tests/fake_aimlapi.py` is a well-behaved fake with injectable faults; this one sends what an
attacker or a broken proxy would: absurd usage, huge bodies, endless lines, keys echoed back.
Each answer is a function `(request) -> iterable of bytes` (the status line and headers included),
so a test can drip bytes, stall or send garbage. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def http(status: int, body: bytes | str | dict, headers: dict | None = None) -> list[bytes]:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    head = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"}
    head.update(headers or {})
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in head.items()]
    return [("\r\n".join(lines) + "\r\n\r\n").encode(), body]


def sse_head() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


def completed(text: str = "Paid answer", usage: dict | None = None, **extra) -> dict:
    return {
        "id": "resp_hostile",
        "object": "response",
        "status": "completed",
        "model": "openai/gpt-5-pro",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}],
        "usage": usage if usage is not None else {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30},
        **extra,
    }


class HostileUpstream:
    def __init__(self):
        self.answers: list[Callable[[dict], Iterable[bytes]]] = []
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                with upstream._lock:
                    upstream.requests.append(request)
                    answer = upstream.answers.pop(0) if upstream.answers else None
                if answer is None:
                    parts = http(500, {"error": {"message": "no scripted answer"}})
                else:
                    parts = answer(request)
                try:
                    for part in parts:
                        self.wfile.write(part)
                        self.wfile.flush()
                except OSError:
                    pass  # the client hung up: that is what some tests want
                self.close_connection = True

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def post_count(self) -> int:
        return sum(1 for r in self.requests if r["method"] == "POST")

    def answer(self, *answers: Callable[[dict], Iterable[bytes]] | list[bytes]) -> None:
        for answer in answers:
            self.answers.append(answer if callable(answer) else (lambda request, parts=answer: parts))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
