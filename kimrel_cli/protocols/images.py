"""Image checks on bytes: type from magic bytes (never the client's label), size limits, data URLs.

The hosted API takes PNG, JPEG, WEBP and GIF, at most 6 MB original and 8 MB once base64-encoded.
"""

from __future__ import annotations

import base64
import binascii

from kimrel_cli.errors import BadRequest

MAX_ORIGINAL_BYTES = 6 * 1024 * 1024
MAX_ENCODED_BYTES = 8 * 1024 * 1024
_ENCODED_TOO_LARGE = (
    f"encoded image payload exceeds the {MAX_ENCODED_BYTES // 1048576} MB forwarding limit"
)


def sniff_image_type(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def encoded_size(original: int) -> int:
    return 4 * ((original + 2) // 3)


def check_image(data: bytes) -> str:
    """The image's media type, or BadRequest for an unknown type or oversize image."""
    media_type = sniff_image_type(data)
    if media_type is None:
        raise BadRequest(
            "unsupported image type: only PNG, JPEG, WEBP and GIF are accepted",
            wire_code="invalid_request",
        )
    if len(data) > MAX_ORIGINAL_BYTES:
        raise BadRequest(
            f"image is {len(data) / 1048576:.1f} MB; the limit is {MAX_ORIGINAL_BYTES // 1048576} MB",
            wire_code="invalid_request",
        )
    if encoded_size(len(data)) > MAX_ENCODED_BYTES:
        raise BadRequest(
            _ENCODED_TOO_LARGE,
            wire_code="encoded_image_too_large",
        )
    return media_type


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def checked_data_url_from_base64(b64: str) -> str:
    """A data URL for base64 image data, with the type taken from the bytes and limits checked."""
    if len(b64) > MAX_ENCODED_BYTES:
        raise BadRequest(
            _ENCODED_TOO_LARGE,
            wire_code="encoded_image_too_large",
        )
    try:
        raw = base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        raise BadRequest("image data is not valid base64", wire_code="invalid_request") from None
    return data_url(raw, check_image(raw))
