"""Files in the sandbox: uploads the bot sends, files users send, and their download paths.

Every file the sandbox issues is a :class:`StoredFile`: its ``file_id``, ``file_unique_id``,
and, when the sandbox holds its bytes, a ``file_path`` under which ``getFile`` names it and
``GET /file/bot<token>/<file_path>`` serves it (as Telegram's file server does). Photos a user
"sends" without bytes have no path: ``getFile`` answers without ``file_path``, which the spec
allows, and they cannot be downloaded.
"""

from __future__ import annotations

import itertools
import mimetypes
import re
import struct
from dataclasses import dataclass
from typing import Any, Literal

from bot.sandbox.errors import TYPE_MISMATCH, WRONG_FILE_ID, bad_request

FileKind = Literal["photo", "document"]
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile refuses bigger files, as Telegram does
_EXTENSION = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart body: its form field, file name, declared type and bytes."""

    field: str
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass(frozen=True)
class StoredFile:
    """A file the sandbox issued an id for."""

    kind: FileKind
    file_id: str
    file_unique_id: str
    size: int
    content: bytes | None = None
    path: str | None = None

    def file_json(self) -> dict[str, Any]:
        """The Bot API File object ``getFile`` returns."""
        found: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.path is not None:
            found["file_path"] = self.path
        return found


class FileStore:
    """Every issued file by file_id, and the downloadable ones by path."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        self._paths = itertools.count(1)

    def new_path(self, folder: str, extension: str) -> str:
        """A fresh ``<folder>/file_<n><extension>``, like Telegram's ``photos/file_3.jpg``."""
        return f"{folder}/file_{next(self._paths)}{extension}"

    def add(self, stored: StoredFile) -> StoredFile:
        self._by_id[stored.file_id] = stored
        if stored.path is not None:
            self._by_path[stored.path] = stored
        return stored

    def find(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id.strip())

    def get(self, file_id: str, kind: FileKind) -> StoredFile:
        """The file ``file_id`` names; 400 if unknown, or of another kind than ``kind``."""
        stored = self.find(file_id)
        if stored is None:
            raise bad_request(WRONG_FILE_ID)
        if stored.kind != kind:
            raise bad_request(TYPE_MISMATCH)
        return stored

    def download(self, path: str) -> StoredFile | None:
        """The file served under ``path``, if there is one."""
        return self._by_path.get(path)


def extension_of(filename: str | None, content_type: str | None) -> str:
    """A safe file extension from the name, else from the MIME type ("" if neither says)."""
    if filename and "." in filename:
        suffix = "." + filename.rsplit(".", 1)[1]
        if _EXTENSION.match(suffix):
            return suffix.lower()
    guessed = mimetypes.guess_extension(content_type or "") if content_type else None
    return guessed or ""


def mime_type_of(filename: str | None, declared: str | None) -> str:
    """The declared type unless it is the generic one, else a guess from the name."""
    if declared and declared != "application/octet-stream":
        return declared
    guessed, _ = mimetypes.guess_type(filename or "")
    return guessed or "application/octet-stream"


def image_size(content: bytes) -> tuple[str, int, int] | None:
    """(extension, width, height) of a PNG, GIF or JPEG image; None for anything else."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return ".png", width, height
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        width, height = struct.unpack("<HH", content[6:10])
        return ".gif", width, height
    if content.startswith(b"\xff\xd8"):
        found = _jpeg_size(content)
        return None if found is None else (".jpg", *found)
    return None


_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(content: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's start-of-frame segment."""
    offset = 2
    while offset + 9 <= len(content):
        if content[offset] != 0xFF:
            return None
        marker = content[offset + 1]
        (length,) = struct.unpack(">H", content[offset + 2 : offset + 4])
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", content[offset + 5 : offset + 9])
            return width, height
        offset += 2 + length
    return None
