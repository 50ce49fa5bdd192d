"""Photos the sandbox has issued, so the bot can send them back by file_id as on Telegram.

Each photo comes in a few sizes (smallest first, like Telegram's PhotoSize arrays); every size
has its own ``file_id`` and ``file_unique_id``, and any of them names the whole photo. The ids
are readable rather than Telegram's opaque base64, which helps when reading transcripts.
"""

from __future__ import annotations

import itertools
from typing import Any

from bot.sandbox.errors import WRONG_FILE_ID, bad_request

PhotoSizes = tuple[dict[str, Any], ...]

PHOTO_SIZES = (("s", 90, 68), ("m", 320, 240), ("y", 1280, 960))
"""(Telegram's size letter, width, height) of the sizes each photo is issued in."""
_JPEG_BYTES_PER_PIXEL = 0.15


class PhotoBook:
    """Issues photos and looks them up by any of their sizes' file_ids."""

    def __init__(self) -> None:
        self._by_file_id: dict[str, PhotoSizes] = {}
        self._numbers = itertools.count(1)

    def issue(self) -> PhotoSizes:
        """A new photo's PhotoSize objects, remembered for later sends."""
        number = next(self._numbers)
        sizes = tuple(_photo_size(number, *size) for size in PHOTO_SIZES)
        for size in sizes:
            self._by_file_id[size["file_id"]] = sizes
        return sizes

    def lookup(self, file_id: str) -> PhotoSizes:
        """The photo a file_id names; 400 like Telegram's for one the sandbox never issued."""
        sizes = self._by_file_id.get(file_id.strip())
        if sizes is None:
            raise bad_request(WRONG_FILE_ID)
        return sizes


def _photo_size(number: int, letter: str, width: int, height: int) -> dict[str, Any]:
    """One PhotoSize object of photo ``number``."""
    return {
        "file_id": f"AgAC-sandbox-photo-{number}-{letter}",
        "file_unique_id": f"AQAD-{number}-{letter}",
        "width": width,
        "height": height,
        "file_size": int(width * height * _JPEG_BYTES_PER_PIXEL),
    }
