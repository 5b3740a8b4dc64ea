"""Config and flag checks that run before JAX starts or data loads, and the one-line error report
every launcher prints.

A check names the field, the value it got and what is allowed, so the user can fix the command
line without reading a traceback. `report_errors` turns any exception escaping a launcher's main
into one line on stderr and a non-zero exit; `--verbose` (or absl's `-v 1`) keeps the traceback.
"""

from __future__ import annotations

import difflib
import math
import sys
from typing import Any, Callable, Iterable, Mapping


class ConfigError(ValueError):
    """A config field or flag has a value the run cannot use."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Returns ' (did you mean X?)' for the closest of `choices`, or ''."""
    name, choices = str(name), [str(c) for c in choices]
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    # A stray suffix or prefix ("lr_typo", "num_epoch") scores low on edit similarity.
    close = close or sorted((c for c in choices if name.startswith(c) or c.startswith(name)), key=len)[-1:]
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_int(field: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Returns `value` if it is an int within [minimum, maximum], else raises ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{field}={value!r}: expected an integer")
    _check_bounds(field, value, minimum, maximum)
    return value


def check_float(field: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                open_min: bool = False) -> float:
    """Returns `value` as a finite float within bounds (`open_min` excludes `minimum`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{field}={value!r}: expected a finite number")
    if open_min and minimum is not None and value <= minimum:
        raise ConfigError(f"{field}={value!r}: must be > {minimum}")
    _check_bounds(field, value, minimum, maximum)
    return float(value)


def check_choice(field: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Returns `value` if it is one of `allowed`, else raises ConfigError with a suggestion."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(f"{field}={value!r}: expected one of {', '.join(map(repr, allowed))}"
                          + did_you_mean(value, allowed))
    return value


def check_keys(field: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Raises ConfigError naming the first unknown key of `given` (with a suggestion)."""
    allowed = list(allowed)
    for key in given:
        if key not in allowed:
            raise ConfigError(f"{field}: unknown field {key!r}" + did_you_mean(key, allowed)
                              + f"; known fields: {', '.join(sorted(allowed))}")


def _check_bounds(field: str, value: Any, minimum: Any, maximum: Any) -> None:
    if minimum is not None and value < minimum:
        raise ConfigError(f"{field}={value!r}: must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{field}={value!r}: must be <= {maximum}")


def verbose_requested(argv: Iterable[str] | None = None) -> bool:
    """True when the command line asks for tracebacks (--verbose, -v N / --verbosity N with N >= 1)."""
    args = list(sys.argv if argv is None else argv)
    for i, a in enumerate(args):
        if a in ("--verbose", "--verbose=true", "--verbose=1"):
            return True
        for flag in ("-v", "--verbosity", "-verbosity"):
            if a == flag and i + 1 < len(args) and args[i + 1].lstrip("-").isdigit():
                return int(args[i + 1]) >= 1
            if a.startswith(flag + "="):
                value = a.split("=", 1)[1]
                return value.lstrip("-").isdigit() and int(value) >= 1
    return False


def report_errors(main: Callable[..., Any], *, verbose: bool | None = None) -> Callable[..., Any]:
    """Wraps a launcher's `main(argv)`: an exception becomes one stderr line and exit status 2.

    SystemExit and KeyboardInterrupt pass through; with `verbose` (default: from the command line)
    the exception propagates with its traceback.
    """

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - every failure gets the same one-line report
            if verbose if verbose is not None else verbose_requested():
                raise
            name = "error" if isinstance(e, ConfigError) else f"error ({type(e).__name__})"
            message = str(e).strip() or type(e).__name__
            print(f"{name}: {message}\n  (rerun with --verbose for the traceback)", file=sys.stderr, flush=True)
            sys.exit(2)

    return wrapped


def unknown_fields(config: Mapping[str, Any], reference: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Returns dotted names in `config` absent from `reference` (both nested mappings)."""
    out = []
    for k, v in config.items():
        if k not in reference:
            out.append(f"{prefix}{k}" + did_you_mean(k, reference.keys()))
        elif isinstance(v, Mapping) and isinstance(reference[k], Mapping):
            out += unknown_fields(v, reference[k], f"{prefix}{k}.")
    return out
