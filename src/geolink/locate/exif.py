"""GPS positions in photos' EXIF (the GPS IFD of the EXIF standard, CIPA DC-008, tags 1-6).

Drone cameras (DJI and others) write where each photo was taken into the GPS IFD: latitude and longitude as three
rationals (degrees, minutes, seconds) with a hemisphere letter, altitude as one rational with a reference byte.
``geolink locate`` reads it as the truth to measure its estimate against; the synthetic drone photos are written
with it (:func:`gps_exif`), as a drone would.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

GPS_IFD = 0x8825
LAT_REF, LAT, LON_REF, LON, ALT_REF, ALT = 1, 2, 3, 4, 5, 6


def _degrees(dms, ref: str, negative: str) -> float:
    d, m, s = (float(v) for v in dms)
    value = d + m / 60.0 + s / 3600.0
    return -value if str(ref).upper().startswith(negative) else value


def read_gps(path: str | Path) -> tuple[float, float] | None:
    """The (lat, lon) in WGS 84 degrees recorded in the photo's EXIF, or None when it records none."""
    try:
        with Image.open(path) as image:
            gps = image.getexif().get_ifd(GPS_IFD)
            if not gps:  # a PNG may keep its eXIf chunk after the pixels, where PIL finds it only once loaded
                image.load()
                gps = image.getexif().get_ifd(GPS_IFD)
        if LAT in gps and LON in gps:
            return _degrees(gps[LAT], gps.get(LAT_REF, "N"), "S"), _degrees(gps[LON], gps.get(LON_REF, "E"), "W")
    except (OSError, ValueError, TypeError, ZeroDivisionError, SyntaxError):
        # Unreadable or malformed EXIF is no truth, not a failure: the photo itself is read (and checked) elsewhere.
        return None
    return None


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 6)


def gps_exif(lat: float, lon: float, altitude_m: float | None = None) -> bytes:
    """An EXIF block holding a GPS position (seconds to 1e-6: about 3 cm), to pass as ``Image.save(exif=...)``
    (as bytes, which PIL writes into JPEG, PNG and WebP alike)."""
    exif = Image.Exif()
    gps = exif.get_ifd(GPS_IFD)
    gps[0] = b"\x02\x03\x00\x00"  # GPSVersionID 2.3
    gps[LAT_REF], gps[LAT] = ("N" if lat >= 0 else "S"), _dms(lat)
    gps[LON_REF], gps[LON] = ("E" if lon >= 0 else "W"), _dms(lon)
    if altitude_m is not None:
        gps[ALT_REF], gps[ALT] = (b"\x00" if altitude_m >= 0 else b"\x01"), abs(float(altitude_m))
    return exif.tobytes()
