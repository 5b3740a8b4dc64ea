"""What the launchers share: where the default config files are, and the mesh and multi-host flags.

Importing this module defines no flag. A launcher that builds a mesh calls `define_mesh_flags()`,
one that can run on several hosts `define_multihost_flags()`, so `--helpfull` lists only the flags
a launcher honours. Defining twice (several launchers imported in one process) is harmless.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from absl import flags

from jaxrun import checks

if TYPE_CHECKING:
    from jax.sharding import Mesh

_HERE = Path(__file__).resolve().parent
_DEFINED: dict[str, flags.FlagHolder] = {}


def config_path(*parts: str) -> str:
    """Returns the path of configs/<parts>, resolved from this package, never the working directory.

    An installed wheel carries the configs inside this package (`sos_pear_launch/configs`); a
    checkout has them beside it (`configs/` next to `launch/`).
    """
    candidates = [_HERE.joinpath("configs", *parts), _HERE.parent.joinpath("configs", *parts)]
    found = next((p for p in candidates if p.is_file()), candidates[-1])
    return str(found)


def _define(kind: str, name: str, default: Any, help_string: str) -> flags.FlagHolder:
    if name not in _DEFINED:
        _DEFINED[name] = getattr(flags, f"DEFINE_{kind}")(name, default, help_string)
    return _DEFINED[name]


def define_mesh_flags() -> None:
    """Defines `--mesh_model`: the size of the mesh's 'model' axis (the rest of the devices is 'data')."""
    _define("integer", "mesh_model", 1, "Size of the mesh 'model' axis (tensor parallel); the rest is 'data'.")


def define_multihost_flags() -> None:
    """Defines `--coordinator_address`, `--num_processes` and `--process_id` for `start_processes`."""
    _define("string", "coordinator_address", None, "host:port of process 0 for multi-host runs.")
    _define("integer", "num_processes", None, "Number of processes (multi-host).")
    _define("integer", "process_id", None, "This process's index (multi-host).")


def define_run_flags(config_change: bool = False) -> None:
    """Defines `--verbose` (tracebacks instead of one-line errors) and, with `config_change`,
    `--allow_config_change` (resume a workdir whose recorded config differs)."""
    _define("boolean", "verbose", False, "Show the full traceback of an error (default: one line).")
    if config_change:
        _define("boolean", "allow_config_change", False,
                "Resume a workdir whose recorded config differs (the new config is recorded).")


def allow_config_change() -> bool:
    """The value of `--allow_config_change` (False where the launcher does not define it)."""
    return bool(_DEFINED["allow_config_change"].value) if "allow_config_change" in _DEFINED else False


def define_config(default: str, help_string: str, **kwargs: Any) -> flags.FlagHolder:
    """Defines `--config` (a config file, `--config.<field>=` overrides) like
    `config_flags.DEFINE_config_file`, but an override naming an unknown field ends the launcher
    with one line naming it and the closest known field, before anything starts.

    ml_collections applies the overrides while the flag is defined (at import), so this is where
    a typo surfaces; locked configs (PEAR's) otherwise give a bare `AttributeError: 'name'`.
    """
    from ml_collections import config_flags

    try:
        return config_flags.DEFINE_config_file("config", default, help_string, **kwargs)
    except Exception as e:  # noqa: BLE001 - a config file that fails to load is a one-line error too
        if checks.verbose_requested():
            raise
        error = _unknown_override(e, default) if isinstance(e, (AttributeError, KeyError)) else None
        error = error or checks.ConfigError(f"--config: {type(e).__name__}: {e}")
        checks.report_errors(_raise, verbose=False)(error)
        raise  # unreachable: report_errors exits


def _raise(error: Exception) -> None:
    raise error


def _unknown_override(e: Exception, default: str) -> checks.ConfigError | None:
    """Returns the one-line error for the `--config.<path>=` override that named an unknown field."""
    import re
    import sys

    match = re.search(r"'([A-Za-z_]\w*)'", str(e).replace("\\", ""))
    if not match:
        return None
    key = match.group(1)
    overrides = [a[len("--config."):].split("=", 1)[0] for a in sys.argv[1:] if a.startswith("--config.")]
    path = next((o for o in overrides if key in o.split(".")), None)
    if path is None:
        return None
    known = _known_fields(default, path.split(".")[: path.split(".").index(key)])
    hint = checks.did_you_mean(key, known) if known else ""
    listing = f"; known fields here: {', '.join(sorted(known))}" if known and not hint else ""
    return checks.ConfigError(f"--config.{path}: unknown config field {key!r}{hint}{listing}")


def _known_fields(default: str, parents: list[str]) -> list[str]:
    """Returns the field names under `parents` of the config file the command line selects."""
    import sys

    from ml_collections import config_flags

    spec = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--config=")), default)
    try:
        path, _, arg = spec.partition(":")
        module = config_flags.config_flags._LoadConfigModule("config", path)  # noqa: SLF001
        config = module.get_config(*([arg] if arg else []))
        for p in parents:
            config = config[p]
        return list(config.keys())
    except Exception:  # noqa: BLE001 - a hint only; the error itself is reported regardless
        return []


def start_jax() -> None:
    """What every launcher does before JAX starts: turn on the persistent compilation cache
    (`jaxrun.workdir.cache_dir('jax')`), so a second run of the same shapes skips compiling."""
    from jaxrun.workdir import enable_compilation_cache

    enable_compilation_cache()


def run(main: Callable[[list[str]], Any]) -> None:
    """Runs `main` under absl, every error reported as one line on stderr with exit status 2
    (`--verbose` or `-v 1` shows the traceback). Third-party start-up chatter is silenced first,
    before any library that prints it is imported."""
    from absl import app

    from jaxrun.metrics import quiet_third_party_logs

    quiet_third_party_logs()

    def parse(argv: list[str]) -> list[str]:
        # absl would print a flag error (a bad --config file or variant, a bad value) as a
        # multi-line "FATAL Flags parsing error" with the config file's traceback.
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
            reason = lines[-1] if len(lines) > 1 else ""
            raise checks.ConfigError(lines[0].rstrip(":") + (f": {reason}" if reason else "")) from e

    def parse_and_run() -> None:
        app.run(main, flags_parser=parse)

    checks.report_errors(parse_and_run)()


def _value(name: str, definer: str) -> Any:
    if name not in _DEFINED:
        raise RuntimeError(f"--{name} is read but was never defined: the launcher must call common.{definer}()")
    return _DEFINED[name].value


def start_processes() -> None:
    """Starts jax.distributed when the multi-host flags or the environment ask for it."""
    import jaxrun

    jaxrun.initialize_distributed(
        _value("coordinator_address", "define_multihost_flags"),
        _value("num_processes", "define_multihost_flags"),
        _value("process_id", "define_multihost_flags"),
    )


def start_backend_quietly() -> None:
    """Starts JAX's backends with the C-level stderr held back: an installed libtpu on a host
    without TPUs prints several lines of probing errors before JAX falls back to CPU or GPU. The
    held text is shown only when no backend starts. Call after `start_processes`."""
    import os
    import sys
    import tempfile

    import jax

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                jax.devices()
            except Exception:
                os.dup2(saved, 2)
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))
                raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def start_processes_and_mesh() -> Mesh:
    """Starts jax.distributed as `start_processes` does, then the backends (quietly); returns the
    (data, `--mesh_model`) mesh."""
    import jaxrun

    start_processes()
    start_backend_quietly()
    return jaxrun.make_mesh(model=_value("mesh_model", "define_mesh_flags"))
