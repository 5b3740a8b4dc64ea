"""What the launchers share: where the default config files are, and the mesh and multi-host flags.

Importing this module defines no flag. A launcher that builds a mesh calls `define_mesh_flags()`,
one that can run on several hosts `define_multihost_flags()`, so `--helpfull` lists only the flags
a launcher honours. Defining twice (several launchers imported in one process) is harmless.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from absl import flags

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


def start_processes_and_mesh() -> Mesh:
    """Starts jax.distributed as `start_processes` does; returns the (data, `--mesh_model`) mesh."""
    import jaxrun

    start_processes()
    return jaxrun.make_mesh(model=_value("mesh_model", "define_mesh_flags"))
