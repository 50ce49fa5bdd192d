"""The daemon's HTTP side: ``/healthz``, ``/metrics`` and, in webhook mode, the Telegram webhook.

One Starlette app served by uvicorn inside the daemon's own event loop (a task next to PTB
and the dispatcher), so handlers hand updates straight to the Application. It knows nothing
of the daemon: the daemon passes in what to call.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass(frozen=True)
class Health:
    role: str  # "leader" (dispatches) or "standby"
    db: str  # "ok" or "unreachable"
    scheduler: str  # "running" or "stopped"
    dispatch_lag_seconds: float | None
    max_lag_seconds: float

    @property
    def healthy(self) -> bool:
        return (
            self.db == "ok"
            and self.scheduler == "running"
            and self.dispatch_lag_seconds is not None
            and self.dispatch_lag_seconds <= self.max_lag_seconds
        )


@dataclass(frozen=True)
class Webhook:
    """Where Telegram POSTs updates, the secret it must send, and who takes the JSON."""

    path: str
    secret: str
    deliver: Callable[[dict[str, Any]], Awaitable[None]]


def build_web_app(
    *,
    health: Callable[[], Awaitable[Health]],
    metrics: Callable[[], Awaitable[bytes]],
    webhook: Webhook | None = None,
    pages: Sequence[BaseRoute] = (),
) -> Starlette:
    async def healthz(request: Request) -> Response:
        state = await health()
        body = {
            "role": state.role,
            "db": state.db,
            "scheduler": state.scheduler,
            "dispatch_lag_seconds": state.dispatch_lag_seconds,
        }
        return JSONResponse(body, status_code=200 if state.healthy else 503)

    async def scrape(request: Request) -> Response:
        return Response(await metrics(), media_type=CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", scrape),
        *pages,
    ]
    if webhook is not None:
        routes.append(Route(webhook.path, _webhook_endpoint(webhook), methods=["POST"]))
    return Starlette(routes=routes)


def _webhook_endpoint(webhook: Webhook) -> Callable[[Request], Awaitable[Response]]:
    expected = webhook.secret.encode()

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook call without the right secret token refused")
            return Response(status_code=403)
        try:
            data = await request.json()
        except ValueError:
            return Response(status_code=400)
        if not isinstance(data, dict):
            return Response(status_code=400)
        await webhook.deliver(data)
        return Response(status_code=200)

    return receive


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon's owner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """Serves an ASGI app on a socket bound up front (so a busy port fails at start)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self._socket = _bind(host, port)
        bound = self._socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{bound}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5
        )
        self._server = _QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(
            self._server.serve(sockets=[self._socket]), name="web-server"
        )
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the web server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (a few seconds at most)."""
        if self._task is None:
            self._socket.close()
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock
