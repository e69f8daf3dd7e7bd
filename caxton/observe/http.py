"""The node's HTTP endpoint: ``/metrics``, the dashboard at ``/`` and its JSON.

It runs in a thread of its own with the standard library's threading HTTP
server, off the message path: a request only reads the observer's latest
immutable ``View`` (asking the loop for a fresh one, built on its next tick),
so the loop never waits on a client of this endpoint. It is read-only: no
request changes anything on the node. It listens on loopback by default
(``--http 127.0.0.1:7780``); an address other hosts can reach needs
``--insecure``, like the management socket without keys (docs/ops/README.md).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from caxton.observe.metrics import registry_for
from caxton.observe.observer import Observer

__all__ = ["DEFAULT_HTTP", "HttpEndpoint", "parse_http"]

log = logging.getLogger("caxton.observe")

DEFAULT_HTTP = "127.0.0.1:7780"
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
           "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
           "/static/style.css": ("style.css", "text/css; charset=utf-8")}


def parse_http(text: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) or ``none``; ``ValueError`` says what is wrong."""
    if text.strip().lower() in ("none", "off", ""):
        return None
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT or none, got {text!r}")
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpEndpoint:
    """A threaded HTTP server over one observer; ``close`` stops it."""

    def __init__(self, observer: Observer, host: str, port: int) -> None:
        self.observer = observer
        self.registry = registry_for(lambda: observer.want())
        handler = type("Handler", (_Handler,), {"endpoint": self})
        server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
        if ":" in host:
            server_class = _Server6
        self.server = server_class((host, port), handler)
        self.server.daemon_threads = True
        bound = self.server.server_address
        self.address = f"{'[' + host + ']' if ':' in host else host}:{bound[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.5}, name="caxton-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    endpoint: HttpEndpoint
    server_version = "caxton"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http %s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        self._send(status, json.dumps(data, default=str).encode(), "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        observer = self.endpoint.observer
        try:
            if path == "/metrics":
                self._send(200, generate_latest(self.endpoint.registry), CONTENT_TYPE_LATEST)
            elif path in _STATIC:
                name, content_type = _STATIC[path]
                body = resources.files("caxton.observe").joinpath("static", name).read_bytes()
                self._send(200, body, content_type)
            elif path == "/api/overview":
                view = observer.want()
                if view is None:
                    self._json({"error": "the node has not published a view yet"}, 503)
                else:
                    self._json(view.overview)
            elif path.startswith("/api/crashes/"):
                self._json(observer.crashes.summaries(unquote(path[len("/api/crashes/"):])))
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain; charset=utf-8")
            else:
                self._json({"error": f"no such page: {path}"}, 404)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader went away
        except Exception:  # one bad request must never cost the endpoint
            log.exception("http %s failed", path)
            with contextlib.suppress(OSError):
                self._json({"error": "internal error"}, 500)
