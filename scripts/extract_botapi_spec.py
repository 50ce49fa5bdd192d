"""Derive the sandbox's compact Bot API spec from the full reference spec.

The full spec (Bot API 10.1 as data, MIT) lives outside the repo. This script keeps only what
the sandbox needs — every method's fields with name, types and required flag — and copies the
spec's licence next to it, so the generated files can be committed.

Usage: python scripts/extract_botapi_spec.py [--source PATH] [--licence PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "reference" / "telegram-bot-api-10.1.min.json"
DEFAULT_LICENCE = REPO_ROOT.parent / "shared" / "reference" / "telegram-bot-api-spec.LICENSE"
OUT_DIR = REPO_ROOT / "bot" / "sandbox"
OUT_SPEC = OUT_DIR / "botapi_spec.json"
OUT_LICENCE = OUT_DIR / "SPEC-LICENSE"


def compact_method(method: dict[str, Any]) -> dict[str, Any]:
    """Keep a method's return types and its fields' name, types and required flag."""
    fields = [
        {"name": f["name"], "types": list(f["types"]), "required": bool(f["required"])}
        for f in method.get("fields", [])
    ]
    return {"returns": list(method.get("returns", [])), "fields": fields}


def compact_spec(full: dict[str, Any]) -> dict[str, Any]:
    """Build the compact document: version, release date and methods sorted by name."""
    methods = {name: compact_method(full["methods"][name]) for name in sorted(full["methods"])}
    return {
        "version": full["version"],
        "release_date": full["release_date"],
        "source": "telegram-bot-api-spec (MIT, see SPEC-LICENSE)",
        "methods": methods,
    }


def render(compact: dict[str, Any]) -> str:
    """Serialise with one method per line: small, stable and readable in diffs."""
    lines = ["{"]
    for key in ("version", "release_date", "source"):
        lines.append(f"  {json.dumps(key)}: {json.dumps(compact[key], ensure_ascii=False)},")
    lines.append('  "methods": {')
    names = list(compact["methods"])
    for index, name in enumerate(names):
        body = json.dumps(compact["methods"][name], ensure_ascii=False, separators=(",", ":"))
        comma = "," if index < len(names) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {body}{comma}")
    lines.extend(["  }", "}"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write botapi_spec.json and SPEC-LICENSE into bot/sandbox/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--licence", type=Path, default=DEFAULT_LICENCE)
    args = parser.parse_args(argv)
    full = json.loads(args.source.read_text(encoding="utf-8"))
    compact = compact_spec(full)
    text = render(compact)
    OUT_SPEC.write_text(text, encoding="utf-8")
    shutil.copyfile(args.licence, OUT_LICENCE)
    sys.stderr.write(f"wrote {len(compact['methods'])} methods of {compact['version']}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
