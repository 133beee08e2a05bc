"""Run a workflow script's body with its log attached and user errors reported without a traceback.

Every ``workflow/scripts/*.py`` hands its body to :func:`run_logged`, so stderr (progress bars,
library warnings) lands in the rule's ``log:`` file and a dataset or configuration problem ends
the job with the one-paragraph message, which Snakemake prints (``show-failed-logs``). Bugs still
raise with a full traceback: those are for us, not for the user.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from geolink.errors import UserError


def run_logged(log_path: str, main: Callable[[], None]) -> None:
    """Send stderr and logging to ``log_path``, run ``main()``, and exit 1 with a clean message on user errors."""
    sys.stderr = open(log_path, "w", buffering=1)  # noqa: SIM115 - lives as long as the process
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    try:
        main()
    except (UserError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
