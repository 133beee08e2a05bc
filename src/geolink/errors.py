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


def user_message(err: BaseException) -> str:
    """The paragraph to show for ``err``.

    An error raised in a PyTorch ``DataLoader`` worker reaches the main process rebuilt as
    ``type(err)("Caught ... Original Traceback ...")``: the worker's whole traceback, with our message on its
    last line. Only that message is for the user.
    """
    text = str(err)
    marker = f"{type(err).__name__}: "
    if "Original Traceback" in text and marker in text:
        text = text[text.rfind(marker) + len(marker) :].strip()
    return text
