"""Photos and documents the sandbox has issued, so the bot can send them back by file_id.

Each photo comes in a few sizes (smallest first, like Telegram's PhotoSize arrays); every size
has its own ``file_id`` and ``file_unique_id``, and any of them names the whole photo. The ids
are readable rather than Telegram's opaque base64, which helps when reading transcripts.

A photo the bot uploads is checked like Telegram checks it (a PNG, GIF or JPEG within the size
rules) and issued in Telegram's sizes up to its own; the sandbox does not re-encode, so every
size downloads as the uploaded bytes. A photo a user "sends" has no bytes and no file path.
"""

from __future__ import annotations

import itertools
from typing import Any

from bot.sandbox.errors import IMAGE_PROCESS_FAILED, PHOTO_INVALID_DIMENSIONS, bad_request
from bot.sandbox.files import FileStore, StoredFile, Upload, extension_of, image_size, mime_type_of

PhotoSizes = tuple[dict[str, Any], ...]

PHOTO_SIZES = (("s", 90, 68), ("m", 320, 240), ("y", 1280, 960))
"""(Telegram's size letter, width, height) of the sizes a user's photo is issued in."""
UPLOAD_SIZES = (("s", 90), ("m", 320), ("x", 800), ("y", 1280), ("w", 2560))
"""(letter, longest side) of the sizes Telegram makes of an uploaded photo."""
MAX_SIDES_SUM = 10_000
MAX_RATIO = 20
_JPEG_BYTES_PER_PIXEL = 0.15


class PhotoBook:
    """Issues photos and looks them up by any of their sizes' file_ids."""

    def __init__(self, files: FileStore) -> None:
        self._files = files
        self._by_file_id: dict[str, PhotoSizes] = {}
        self._numbers = itertools.count(1)

    def issue(self) -> PhotoSizes:
        """A new photo's PhotoSize objects (no bytes), remembered for later sends."""
        number = next(self._numbers)
        sizes = tuple(_photo_size(number, *size) for size in PHOTO_SIZES)
        return self._remember(sizes)

    def upload(self, upload: Upload) -> PhotoSizes:
        """A photo from uploaded bytes: 400 unless it is an image Telegram would take."""
        found = image_size(upload.content)
        if found is None:
            raise bad_request(IMAGE_PROCESS_FAILED)
        extension, width, height = found
        longest, shortest = max(width, height), min(width, height)
        if shortest < 1 or width + height > MAX_SIDES_SUM or longest > MAX_RATIO * shortest:
            raise bad_request(PHOTO_INVALID_DIMENSIONS)
        number = next(self._numbers)
        path = self._files.new_path("photos", extension)
        sizes = tuple(
            {
                "file_id": f"AgAC-sandbox-photo-{number}-{letter}",
                "file_unique_id": f"AQAD-{number}-{letter}",
                "width": round(width * side / longest),
                "height": round(height * side / longest),
                "file_size": len(upload.content),
            }
            for letter, side in _upload_sides(longest)
        )
        return self._remember(sizes, upload.content, path)

    def lookup(self, file_id: str) -> PhotoSizes:
        """The photo a file_id names; 400 like Telegram's for one the sandbox never issued."""
        stored = self._files.get(file_id, "photo")
        return self._by_file_id[stored.file_id]

    def _remember(
        self, sizes: PhotoSizes, content: bytes | None = None, path: str | None = None
    ) -> PhotoSizes:
        for size in sizes:
            self._by_file_id[size["file_id"]] = sizes
            stored = StoredFile(
                "photo", size["file_id"], size["file_unique_id"], size["file_size"], content, path
            )
            self._files.add(stored)
        return sizes


def _upload_sides(longest: int) -> list[tuple[str, int]]:
    """Each Telegram size smaller than the image, then the image itself (at most 2560)."""
    sides = [(letter, side) for letter, side in UPLOAD_SIZES if side < longest]
    if len(sides) < len(UPLOAD_SIZES):
        sides.append((UPLOAD_SIZES[len(sides)][0], longest))
    return sides


def _photo_size(number: int, letter: str, width: int, height: int) -> dict[str, Any]:
    """One PhotoSize object of photo ``number``."""
    return {
        "file_id": f"AgAC-sandbox-photo-{number}-{letter}",
        "file_unique_id": f"AQAD-{number}-{letter}",
        "width": width,
        "height": height,
        "file_size": int(width * height * _JPEG_BYTES_PER_PIXEL),
    }


class DocumentBook:
    """Issues documents (bytes kept, downloadable) and looks them up by file_id."""

    def __init__(self, files: FileStore) -> None:
        self._files = files
        self._by_file_id: dict[str, dict[str, Any]] = {}
        self._numbers = itertools.count(1)

    def issue(self, upload: Upload) -> dict[str, Any]:
        """The Document object of new bytes, with its name and MIME type."""
        number = next(self._numbers)
        document: dict[str, Any] = {
            "file_id": f"BQAC-sandbox-document-{number}",
            "file_unique_id": f"AgAD-{number}",
            "file_name": upload.filename or f"document_{number}",
            "mime_type": mime_type_of(upload.filename, upload.content_type),
            "file_size": len(upload.content),
        }
        path = self._files.new_path("documents", extension_of(upload.filename, upload.content_type))
        self._files.add(
            StoredFile(
                "document",
                document["file_id"],
                document["file_unique_id"],
                len(upload.content),
                upload.content,
                path,
            )
        )
        self._by_file_id[document["file_id"]] = document
        return document

    def lookup(self, file_id: str) -> dict[str, Any]:
        """The document a file_id names; 400 for an unknown one or a photo's."""
        stored = self._files.get(file_id, "document")
        return dict(self._by_file_id[stored.file_id])
