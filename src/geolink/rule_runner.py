"""Run a workflow script's body with its log attached and user errors reported without a traceback.

Every ``workflow/scripts/*.py`` hands its body to :func:`run_logged`, so stderr (progress bars,
library warnings) lands in the rule's ``log:`` file and a dataset or configuration problem ends
the job with the one-paragraph message, which Snakemake prints (``show-failed-logs``). Bugs still
raise with a full traceback: those are for us, not for the user.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable

from geolink.atomic import check_writable
from geolink.errors import UserError, user_message


def run_logged(log_path: str, main: Callable[[], None], outputs: Iterable[str] | None = None) -> None:
    """Send stderr and logging to ``log_path``, run ``main()``, and exit 1 with a clean message on user errors.

    ``outputs`` (the job's ``snakemake.output``) are checked for writable folders before ``main()`` starts, so a
    read-only results folder ends the job at once with a message naming it, not after hours of computing.
    """
    sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 - lives as long as the process
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    exit_on_sigterm()
    try:
        if outputs is not None:
            check_writable(outputs)
        main()
    except (UserError, OSError) as err:
        print(f"error: {user_message(err)}", file=sys.stderr)
        sys.exit(1)


def exit_on_sigterm() -> None:
    """Turn SIGTERM (Snakemake stopping its jobs, a cluster's time limit, ``kill``) into a normal exit.

    By default SIGTERM ends the process at once, leaving the hidden temporary files of half-written outputs
    behind; raised as ``SystemExit`` it unwinds the stack, so ``atomic_output`` removes them and a training run
    stops between two files, never inside one.
    """

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(signal.SIGTERM, stop)
        # Forked workers (multiprocessing pools, DataLoader workers) must die on SIGTERM as usual: a pool ends
        # its workers with SIGTERM, and a worker that unwound instead could deadlock on a lock held at the fork.
        global _fork_hook_registered
        if not _fork_hook_registered:  # the CLI's main() may run many times in one process (tests)
            os.register_at_fork(after_in_child=_default_sigterm)
            _fork_hook_registered = True


_fork_hook_registered = False


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
