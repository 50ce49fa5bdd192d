"""`aftercare db ...`: migrate the database schema (Alembic, shipped in the package).

``upgrade`` also adopts a database made before migrations (tables, no history) when its
tables match the models exactly; ``stamp`` is the repair tool for anything else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

import typer
from alembic.util import CommandError
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings
from schedules import migrate
from schedules.errors import AftercareError

db_app = typer.Typer(help="Database schema: upgrade, downgrade, current.", no_args_is_help=True)
console = Console(highlight=False)
_T = TypeVar("_T")

DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy async URL (default: AFTERCARE_DATABASE_URL)")
]


def _url(database_url: str | None) -> str:
    return database_url or Settings().database_url


def _run(work: Coroutine[Any, Any, _T]) -> _T:
    """Run ``work``; a refused migration or a database error ends with a plain message."""
    try:
        return asyncio.run(work)
    except (AftercareError, CommandError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
    except (SQLAlchemyError, OSError) as error:
        console.print(f"[red]database error:[/red] {type(error).__name__}: {escape(str(error))}")
    raise typer.Exit(1)


@db_app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
    database_url: DatabaseUrl = None,
) -> None:
    """Migrate the database up (to the newest revision by default)."""
    url = _url(database_url)
    done = _run(migrate.upgrade(url, revision))
    console.print(f"{migrate.masked(url)}: {done} (revision {_run(migrate.current(url))})")


@db_app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help='Target revision, e.g. 0001 or "base"')],
    database_url: DatabaseUrl = None,
) -> None:
    """Migrate the database down to REVISION ("base" drops every table and its data)."""
    url = _url(database_url)
    _run(migrate.downgrade(url, revision))
    console.print(
        f"{migrate.masked(url)}: downgraded (revision {_run(migrate.current(url)) or 'base'})"
    )


@db_app.command()
def current(database_url: DatabaseUrl = None) -> None:
    """Print the database's revision and whether it is up to date."""
    url = _url(database_url)
    revision = _run(migrate.current(url))
    found = _run(migrate.state(url))
    console.print(f"{revision or 'none'} ({found}; head is {migrate.head_revision()})")


@db_app.command()
def stamp(
    revision: Annotated[str, typer.Argument(help="Revision to record, e.g. head")],
    database_url: DatabaseUrl = None,
) -> None:
    """Record REVISION as the database's without migrating (repair only: no checks)."""
    url = _url(database_url)
    _run(migrate.stamp(url, revision))
    console.print(f"{migrate.masked(url)}: stamped at {revision}")
