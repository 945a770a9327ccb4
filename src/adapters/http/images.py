"""Resizing and cropping images on read with Pillow: the ``ImageTransformer`` port
(``weed/images/resizing.go``, ``cropping.go``).

Go's rules: only ``.png .jpg .jpeg .gif .webp`` (crop: not webp) are touched; an image no larger
than the request is served as stored; ``mode=fit`` keeps the aspect ratio inside the box,
``mode=fill`` covers the box and crops the centre, anything else stretches (a 0 side keeps the
ratio). Pixels differ from Go's resampler; sizes do not.

Beyond Go: a resize whose output would pass :data:`MAX_RESIZE_PIXELS` (``width=20&
height=20000000`` takes Go 12 s and 3.2 GiB) serves the image as stored, as every other
resize that cannot be done does (an image that does not decode, or is small enough already);
so does a stored image that declares more pixels than that (it is never decoded).
"""

from __future__ import annotations

import io
import logging

from PIL import Image, ImageOps

log = logging.getLogger(__name__)

MAX_RESIZE_PIXELS = 100_000_000
"""The largest resize output, in pixels (100 megapixels, ~400 MB as RGBA)."""
RESIZABLE = (".png", ".jpg", ".jpeg", ".gif", ".webp")
CROPPABLE = (".png", ".jpg", ".jpeg", ".gif")
_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".webp": "WEBP"}


class TooManyPixels(Exception):
    """An image (as stored, or as asked for) over :data:`MAX_RESIZE_PIXELS`."""


def _open(data: bytes) -> Image.Image:
    """Decode an image, refusing one over :data:`MAX_RESIZE_PIXELS` from its header alone (a
    few KiB of PNG may declare gigapixels)."""
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as err:  # Pillow's own bound, twice ~89 megapixels
        raise TooManyPixels(str(err)) from None
    width, height = image.size
    if width * height > MAX_RESIZE_PIXELS:
        raise TooManyPixels(f"{width}x{height} is over {MAX_RESIZE_PIXELS} pixels")
    image.load()
    return image


def _encode(image: Image.Image, ext: str) -> bytes:
    out = io.BytesIO()
    fmt = _FORMATS[ext]
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, format=fmt, **({"quality": 75} if fmt == "JPEG" else {}))
    return out.getvalue()


class PillowImages:
    def resize(self, data: bytes, ext: str, width: int, height: int, mode: str) -> bytes:
        if width <= 0 and height <= 0:
            return data
        try:
            image = _open(data)
        except Exception as err:  # noqa: BLE001 - not an image: serve it as stored
            log.info("resize: cannot decode image: %s", err)
            return data
        w, h = image.size
        if not ((width and w > width) or (height and h > height)):
            return data
        if mode == "fit":  # inside both the box and the image: never larger than it
            box = (width or w, height or h)
            result = ImageOps.contain(image, box, Image.Resampling.LANCZOS)
            return _encode(result, ext)
        fill = mode == "fill" and width and height
        if not fill:
            if not width:
                width = max(1, round(w * height / h))
            if not height:
                height = max(1, round(h * width / w))
        if width * height > MAX_RESIZE_PIXELS:
            log.info(
                "resize: %dx%d is over %d pixels: served as stored",
                width,
                height,
                MAX_RESIZE_PIXELS,
            )
            return data
        if fill:
            result = ImageOps.fit(
                image, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5)
            )
        else:
            result = image.resize((width, height), Image.Resampling.LANCZOS)
        return _encode(result, ext)

    def crop(self, data: bytes, ext: str, x1: int, y1: int, x2: int, y2: int) -> bytes:
        try:
            image = _open(data)
        except Exception as err:  # noqa: BLE001
            log.info("crop: cannot decode image: %s", err)
            return data
        w, h = image.size
        box = (max(0, x1), max(0, y1), min(w, x2), min(h, y2))
        if box[0] >= box[2] or box[1] >= box[3]:
            return data
        return _encode(image.crop(box), ext)

    def fix_orientation(self, data: bytes) -> bytes:
        """Apply the EXIF orientation of a JPEG (``-images.fix.orientation``)."""
        try:
            image = _open(data)
            fixed = ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001 - not a JPEG we can read: keep it
            return data
        if fixed is image:
            return data
        return _encode(fixed, ".jpg")
