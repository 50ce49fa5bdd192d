"""Container health check for aftercare-bot (the Dockerfile's HEALTHCHECK runs it).

1. Ask the bot's own HTTP server: ``GET http://127.0.0.1:$AFTERCARE_HTTP_PORT/healthz``
   (default port 8080). 200 is healthy; any other status, or a server that accepts the
   connection but does not answer in time, is unhealthy.
2. If nothing listens on that port (a process that serves no HTTP, e.g. polling mode
   without the health server), fall back to the database: ``SELECT 1`` on
   ``AFTERCARE_DATABASE_URL`` (SQLite or Postgres). A dead bot process needs no check:
   it is the container's main process, so the container stops with it.

Exit status 0 = healthy, 1 = unhealthy (Docker's convention). Standard library only for
the HTTP part; the database part uses the bot's own settings and SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import os
import sys
import urllib.error
import urllib.request

HTTP_TIMEOUT = 5.0
DATABASE_TIMEOUT = 8.0


def health_url() -> str:
    port = os.environ.get("AFTERCARE_HTTP_PORT", "").strip() or "8080"
    return f"http://127.0.0.1:{port}/healthz"


def check_http(url: str) -> bool | None:
    """True/False: the server answered healthy/unhealthy. None: nothing listens there."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError:
        return False  # it answered, with 4xx/5xx (e.g. 503 while the dispatcher lags)
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return None
        return False
    except ConnectionRefusedError:
        return None
    except OSError:  # a timeout or a reset: the server is there but not well
        return False


async def _select_one(database_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def check_database() -> bool:
    """``SELECT 1`` on the configured database; a missing SQLite file counts as unhealthy."""
    from sqlalchemy.engine import make_url

    from bot.settings import Settings

    database_url = Settings().database_url
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path in ("", ":memory:") or not os.path.exists(path):
            return False  # connecting would create an empty file and say nothing
    try:
        asyncio.run(asyncio.wait_for(_select_one(database_url), DATABASE_TIMEOUT))
    except Exception:
        return False
    return True


def main() -> int:
    url = health_url()
    healthy = check_http(url)
    if healthy is None:
        healthy = check_database()
        sys.stdout.write(f"{url}: not served; database {'ok' if healthy else 'unreachable'}\n")
    else:
        sys.stdout.write(f"{url}: {'ok' if healthy else 'unhealthy'}\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
