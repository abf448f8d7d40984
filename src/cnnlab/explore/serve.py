"""Serving the explorer: uvicorn behind :class:`UploadLimit`, on a socket bound by :func:`bind`.

``serve(host, port, run_dir)`` builds the app with :func:`cnnlab.explore.app.create_app` and runs it until
Ctrl-C, printing the URL (with the real port) first.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.explore import compute as C
from cnnlab.explore.app import create_app


# -- serving --------------------------------------------------------------------------------------------
class UploadLimit:
    """ASGI middleware: refuse upload POSTs (``/session/<id>/upload/<job>``) above ``max_bytes``.

    Shiny itself has no size limit on uploads; this rejects a request whose ``Content-Length`` is too large
    (or missing) with 413 before any of it is stored, and stops one that sends more than it declared.
    """

    def __init__(self, app: Any, max_bytes: int = C.MAX_UPLOAD_BYTES + 64 * 1024):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or "/upload/" not in scope.get("path", "")
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b""))
        except ValueError:
            declared = -1
        if declared < 0 or declared > self.max_bytes:
            body = f"uploads are limited to {C.MAX_UPLOAD_BYTES // 2**20} MB".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > declared:
                    raise ValueError("upload larger than its Content-Length")
            return message

        await self.app(scope, counted, send)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free port); :class:`CnnlabError` if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CnnlabError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, run_dir: str | os.PathLike | None = None) -> None:
    """Serve the explorer on ``host:port`` until Ctrl-C; prints the URL (with the real port) first."""
    import uvicorn

    app = create_app(run_dir)
    sock = bind(host, port)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    print(f"cnnlab explore: serving on http://{shown}:{real_port}/ (Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"cnnlab explore: warning: listening on {host}, reachable from other machines", file=sys.stderr)
    config = uvicorn.Config(UploadLimit(app), log_level="warning", ws_max_size=16 * 2**20)
    uvicorn.Server(config).run(sockets=[sock])
