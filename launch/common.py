"""Flags and paths every launcher shares: config-file defaults, mesh shape and multi-host start-up.

Importing this module defines `--mesh_model`, `--coordinator_address`, `--num_processes` and
`--process_id` once, whichever launchers a process imports.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags
from jax.sharding import Mesh

_MESH_MODEL = flags.DEFINE_integer("mesh_model", 1, "Size of the mesh 'model' axis; the rest is 'data'.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "host:port of process 0 for multi-host runs.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes (multi-host).")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index (multi-host).")


def config_path(*parts: str) -> str:
    """Returns configs/<parts> next to this package (a checkout or an editable install), else the
    same path relative to the working directory."""
    here = Path(__file__).resolve().parent.parent.joinpath("configs", *parts)
    return str(here if here.is_file() else Path("configs").joinpath(*parts))


def start_processes() -> None:
    """Starts jax.distributed when the flags or the environment ask for it."""
    import jaxrun

    jaxrun.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)


def start_processes_and_mesh() -> Mesh:
    """Starts jax.distributed as `start_processes` does; returns the (data, `--mesh_model`) mesh."""
    import jaxrun

    start_processes()
    return jaxrun.make_mesh(model=_MESH_MODEL.value)
