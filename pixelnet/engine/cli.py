"""The error boundary of the command-line tools: expected failures become one line on
stderr and a non-zero exit status, never a traceback. Also their shared ``--help`` layout
(:class:`HelpFormatter`: every option states its real default once).

Expected failures are the user's to fix: a wrong path, a dataset with missing files, an
incompatible checkpoint, a bad option or config file, a run that diverged. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from ..data import DatasetError
from ..device import DeviceError
from ..io import ModelFileError
from .checkpoint import CheckpointError
from .config import ConfigError
from .fit import TrainingStopped

__all__ = [
    "EXPECTED_ERRORS", "HelpFormatter", "UsageError", "comma_floats", "comma_ints", "comma_names", "default_text",
    "run_cli",
]


class UsageError(ValueError):
    """An option, path or dataset the user gave cannot be used (message is one line)."""


EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    UsageError, ConfigError, CheckpointError, ModelFileError, TrainingStopped, DatasetError, DeviceError,
    FileNotFoundError, NotADirectoryError, PermissionError,
)


def run_cli(main: Callable[[argparse.Namespace], int | None], args: argparse.Namespace, *,
            prog: str = "pixelnet") -> int:
    """Call ``main(args)`` and turn expected errors into ``"<prog>: error: <message>"``.

    Returns:
        The exit status: ``main``'s return value (0 if None), 1 for an expected error, 130 on
        an unhandled Ctrl-C, 141 (128 + SIGPIPE, as a shell reports it) when the reader of the
        output went away (``... | head``), without a traceback.
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
    except BrokenPipeError:
        # stdout's reader is gone: point stdout at devnull so the exit flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def default_text(action: argparse.Action) -> str | None:
    """How ``--help`` shows the default of ``action``, or None when there is nothing to show.

    Flags (no value) show nothing when off by default and ``(default)`` when the flag's effect is
    already the default (``--pretrained`` beside ``--scratch``); ``--x/--no-x`` pairs show ``on``
    or ``off``; lists show as they are typed (``256,256``, or ``256 256`` for ``nargs``); unset
    (None) and empty defaults show nothing, so their help text says what happens instead.
    """
    default = action.default
    if default is None or default is argparse.SUPPRESS or not action.option_strings:
        return None
    if isinstance(action, argparse.BooleanOptionalAction):
        return "on" if default else "off"
    if action.nargs == 0:  # store_true / store_false / store_const / append_const / count
        return "" if default == getattr(action, "const", object()) else None
    if isinstance(default, (list, tuple)):
        if not default:
            return None
        sep = " " if action.nargs not in (None, "?") else ","
        return sep.join(_plain_value(v) for v in default)
    if isinstance(default, str) and not default:
        return None
    return _plain_value(default)


def _plain_value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


class HelpFormatter(argparse.HelpFormatter):
    """``--help`` that states every option's real default once.

    Unlike :class:`argparse.ArgumentDefaultsHelpFormatter` it never prints ``(default: True)``
    for a flag that is off by default (``--scratch``, ``--no-flip``), never ``(default: None)``,
    and adds nothing when the help text already says ``default`` itself (see
    :func:`default_text` for how values are shown).
    """

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        if "default" in help_text.lower():  # written by hand, e.g. "(default: per dataset)"
            return help_text
        text = default_text(action)
        if text is None:
            return help_text
        text = text.replace("%", "%%")  # help strings are %-formatted
        suffix = "(default)" if text == "" else f"(default: {text})"
        return f"{help_text} {suffix}" if help_text else suffix


def comma_floats(text: str) -> list[float]:
    """Option type: ``"0.5,1,1.5"`` -> ``[0.5, 1.0, 1.5]``."""
    return [float(t) for t in str(text).split(",") if t.strip()]


def comma_ints(text: str) -> list[int]:
    """Option type: ``"256,320"`` -> ``[256, 320]``."""
    return [int(t) for t in str(text).split(",") if t.strip()]


def comma_names(text: str) -> list[str]:
    """Option type: ``"cat, sofa,floor"`` -> ``["cat", "sofa", "floor"]``."""
    return [t.strip() for t in str(text).split(",") if t.strip()]
