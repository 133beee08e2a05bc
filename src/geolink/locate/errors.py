"""The one error family of ``geolink index`` and ``geolink locate``."""

from __future__ import annotations

from geolink.errors import UserError


class LocateError(UserError):
    """A map, photo, index or encoder that cannot be used; the message names the file and the fix."""
