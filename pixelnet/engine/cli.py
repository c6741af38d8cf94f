"""The error boundary of the command-line tools: expected failures become one line on
stderr and a non-zero exit status, never a traceback.

Expected failures are the user's to fix: a wrong path, a dataset with missing files, an
incompatible checkpoint, a bad option or config file, a run that diverged. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..data import DatasetError
from ..io import ModelFileError
from .checkpoint import CheckpointError
from .config import ConfigError
from .fit import TrainingStopped

__all__ = ["EXPECTED_ERRORS", "UsageError", "run_cli"]


class UsageError(ValueError):
    """An option, path or dataset the user gave cannot be used (message is one line)."""


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    UsageError, ConfigError, CheckpointError, ModelFileError, TrainingStopped, DatasetError,
    FileNotFoundError, NotADirectoryError, PermissionError,
)


def run_cli(main: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, *,
            prog: str = "pixelnet") -> int:
    """Call ``main(args)`` and turn expected errors into ``"<prog>: error: <message>"``.

    Returns:
        The exit status: ``main``'s return value (0 if None), 1 for an expected error, 130 on
        an unhandled Ctrl-C.
    """
    try:
        return int(main(args) or 0)
    except EXPECTED_ERRORS as e:
        text = str(e).strip()
        if "Traceback (most recent call last)" in text:  # re-raised from a data-loader worker
            text = text.splitlines()[-1]
        message = " ".join(text.split()) or e.__class__.__name__
        print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130
