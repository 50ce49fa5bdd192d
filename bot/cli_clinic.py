"""`aftercare clinic ...`: create clinics, list them, print their enrolment QR codes."""

from __future__ import annotations

import typer

clinic_app = typer.Typer(help="Clinics: create, list, QR codes.", no_args_is_help=True)
