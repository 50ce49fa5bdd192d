"""QR codes as PNG bytes, made in memory with pure Python (qrcode + pypng, no Pillow)."""

from __future__ import annotations

import io

import qrcode  # type: ignore[import-untyped]  # no py.typed marker
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped]
from qrcode.image.pure import PyPNGImage  # type: ignore[import-untyped]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def qr_png(url: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """A black-on-white PNG of ``url``; medium error correction survives a smudged print."""
    code = qrcode.QRCode(
        error_correction=ERROR_CORRECT_M,
        box_size=box_size,
        border=border,
        image_factory=PyPNGImage,
    )
    code.add_data(url)
    code.make(fit=True)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    png: bytes = buffer.getvalue()
    return png
