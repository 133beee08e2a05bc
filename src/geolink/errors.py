"""The failures a user can cause, as one family of exceptions.

Every expected failure (a bad configuration value, a missing or corrupt dataset file, an unusable
checkpoint, an output that would overwrite someone's data) raises a subclass of :class:`UserError`
whose message is one paragraph naming the file, key or value and saying how to fix it. The
``geolink`` command and every workflow script catch :class:`UserError` and print that paragraph with
a non-zero exit status; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, data or outputs; the message says what and how to fix it."""
