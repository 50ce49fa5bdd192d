"""`aftercare broadcast`: send a clinic's message to a segment of its patients."""

from __future__ import annotations

import typer

broadcast_app = typer.Typer(help="Broadcast to a clinic's patients.", no_args_is_help=True)
