"""Where and which way a photo was taken: the GPS IFD of its EXIF (CIPA DC-008), and DJI's XMP camera yaw.

Drone cameras (DJI and others) write where each photo was taken into the GPS IFD: latitude and longitude as three
rationals (degrees, minutes, seconds) with a hemisphere letter (tags 1-4), altitude as one rational with a
reference byte (tags 5-6). ``geolink locate`` reads it as the truth to measure its estimate against.

The heading (which way the top of the picture faces, degrees clockwise from north) comes from the compass, which
works without GNSS, so a drone that has lost its position still knows it. It is read from the GPS IFD's
GPSImgDirection (tag 17, with GPSImgDirectionRef, tag 16: T true or M magnetic north), or else from the XMP
``drone-dji:GimbalYawDegree`` that DJI aircraft write (the gimbal's yaw in the north-east-down frame; DJI's
user manuals, "Photo File" field list); for a camera looking straight down that is the heading of the picture's
top. Magnetic headings are used as given: the declination (a few degrees in most places) turns the photo by as
much, which a 64-pixel encoder does not resolve. The synthetic drone photos are written with both position and
heading in the GPS IFD (:func:`gps_exif`), as a drone would.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

GPS_IFD = 0x8825
LAT_REF, LAT, LON_REF, LON, ALT_REF, ALT = 1, 2, 3, 4, 5, 6
IMG_DIRECTION_REF, IMG_DIRECTION = 16, 17
#: DJI's camera yaw in the XMP packet, as an attribute (``drone-dji:GimbalYawDegree="+45.20"``) or an element.
_DJI_YAW = re.compile(rb"drone-dji:GimbalYawDegree(?:=\"|>)\s*([-+]?[0-9]+(?:\.[0-9]*)?)")


def _degrees(dms, ref: str, negative: str) -> float:
    d, m, s = (float(v) for v in dms)
    value = d + m / 60.0 + s / 3600.0
    return -value if str(ref).upper().startswith(negative) else value


def _gps_ifd(image: Image.Image, tag: int) -> dict:
    """The GPS IFD of an open image, holding ``tag`` if the file records it anywhere. A PNG may keep its eXIf (and
    XMP) chunks after the pixels, where PIL finds them only once the image is loaded; a JPEG (and a DJI MPO, JPEG
    frames) keeps all of its metadata in the segments before the pixels, so it is not decoded for this."""
    gps = image.getexif().get_ifd(GPS_IFD)
    if tag not in gps and image.format not in ("JPEG", "MPO"):
        image.load()
        gps = image.getexif().get_ifd(GPS_IFD)
    return gps


def read_gps(path: str | Path) -> tuple[float, float] | None:
    """The (lat, lon) in WGS 84 degrees recorded in the photo's EXIF, or None when it records none."""
    try:
        with Image.open(path) as image:
            gps = _gps_ifd(image, LAT)
        if LAT in gps and LON in gps:
            return _degrees(gps[LAT], gps.get(LAT_REF, "N"), "S"), _degrees(gps[LON], gps.get(LON_REF, "E"), "W")
    except (OSError, ValueError, TypeError, ZeroDivisionError, SyntaxError):
        # Unreadable or malformed EXIF is no truth, not a failure: the photo itself is read (and checked) elsewhere.
        return None
    return None


def read_heading(path: str | Path) -> float | None:
    """Which way the top of the photo faces, degrees clockwise from north in [0, 360), or None when unrecorded
    (see the module docstring for where it is read)."""
    try:
        with Image.open(path) as image:
            gps = _gps_ifd(image, IMG_DIRECTION)  # loaded when needed, so a PNG's late XMP chunk is read too
            if IMG_DIRECTION in gps:
                return float(gps[IMG_DIRECTION]) % 360.0
            xmp = image.info.get("xmp") or b""
        found = _DJI_YAW.search(xmp if isinstance(xmp, bytes) else str(xmp).encode())
        return float(found.group(1)) % 360.0 if found else None
    except (OSError, ValueError, TypeError, ZeroDivisionError, SyntaxError):
        return None  # as read_gps: no usable heading, the photo is then taken as it is


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 6)


def gps_exif(lat: float, lon: float, altitude_m: float | None = None, heading_deg: float | None = None) -> bytes:
    """An EXIF block holding a GPS position (seconds to 1e-6: about 3 cm) and optionally the heading of the
    picture's top (true north), to pass as ``Image.save(exif=...)`` (as bytes, which PIL writes into JPEG, PNG and
    WebP alike)."""
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    gps[0] = b"\x02\x03\x00\x00"  # GPSVersionID 2.3
    gps[LAT_REF], gps[LAT] = ("N" if lat >= 0 else "S"), _dms(lat)
    gps[LON_REF], gps[LON] = ("E" if lon >= 0 else "W"), _dms(lon)
    if altitude_m is not None:
        gps[ALT_REF], gps[ALT] = (b"\x00" if altitude_m >= 0 else b"\x01"), abs(float(altitude_m))
    if heading_deg is not None:
        gps[IMG_DIRECTION_REF], gps[IMG_DIRECTION] = "T", round(float(heading_deg) % 360.0, 2)
    return exif.tobytes()
