"""CLI configuration: an optional YAML file that sets parser defaults, and the resolved
configuration written next to a run's outputs.

The YAML file may only set defaults: flags given on the command line win. Keys are the
parser's destination names (``images-per-batch`` or ``images_per_batch``, ``flip``,
``pretrained``) or the name of a flag (``no-flip: true``, ``scratch: true``). Values are
YAML scalars or lists and go through the option's own type, so ``mlp-width: 4096``,
``mlp-width: [128, 64]`` and ``mlp-width: "128,64"`` mean what the flag would. An unknown key
or a value outside an option's choices is an error, never silently ignored. The resolved
configuration (``train.yaml``) can be passed back with ``--config`` to repeat a run.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "apply_yaml_defaults", "parse_args", "write_resolved_config"]


class ConfigError(ValueError):
    """A config file is missing, malformed, or has unknown keys/values."""


def apply_yaml_defaults(parser: argparse.ArgumentParser, path: str | Path) -> dict[str, Any]:
    """Read ``path`` (a YAML mapping) and install its values as ``parser`` defaults.

    Returns:
        The defaults that were set (by destination name).

    Raises:
        ConfigError: unreadable file, not a mapping, unknown key, or a value not in an
            option's choices.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of option: value")
    usable = [a for a in parser._actions if a.dest not in ("help", "config") and a.help is not argparse.SUPPRESS]
    actions = {a.dest: a for a in usable}
    flags = {o.lstrip("-").replace("-", "_"): a for a in usable if a.nargs == 0 for o in a.option_strings}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name in actions:
            action = actions[name]
            try:
                value = _typed(action, value)
            except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
                raise ConfigError(f"{path}: bad value for {key!r}: {e}") from e
        elif name in flags:  # a flag's own name, e.g. no-flip: true
            action = flags[name]
            if not isinstance(value, bool):
                raise ConfigError(f"{path}: {key!r} is a flag: true or false, not {value!r}")
            if not value:
                continue  # the flag not given: its destination keeps its default
            value = action.const
        else:
            raise ConfigError(f"{path}: unknown option {key!r}")
        if action.choices is not None and value is not None and value not in action.choices:
            raise ConfigError(f"{path}: {key!r} must be one of {list(action.choices)}, not {value!r}")
        if action.dest in values and values[action.dest] != value:
            raise ConfigError(f"{path}: {key!r} contradicts another key of option --{action.dest.replace('_', '-')}")
        values[action.dest] = value
    parser.set_defaults(**values)
    return values


def _typed(action: argparse.Action, value: Any) -> Any:
    """``value`` as the parser would hold it had it come from the command line."""
    convert = action.type if callable(action.type) else None
    if value is None or convert is None:
        return value
    if action.nargs is None or action.nargs == "?":  # one command-line word, e.g. "128,64"
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        return convert(value if isinstance(value, str) else str(value))
    items = value if isinstance(value, (list, tuple)) else [value]  # nargs: one word per item
    return [convert(str(v)) for v in items]


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` after applying the defaults of ``--config FILE`` when given.

    The parser must define ``--config``. Errors in the config file exit like argparse errors.
    """
    pre, _ = parser.parse_known_args(argv)
    if getattr(pre, "config", None):
        try:
            apply_yaml_defaults(parser, pre.config)
        except ConfigError as e:
            parser.error(str(e))
    return parser.parse_args(argv)


def write_resolved_config(args: argparse.Namespace, path: str | Path) -> Path:
    """Write every resolved option (``--config`` excluded) as YAML to ``path``."""
    path = Path(path)
    data = {k.replace("_", "-"): _plain(v) for k, v in vars(args).items() if k != "config"}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)
    return path


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v
