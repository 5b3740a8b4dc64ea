"""Orbax checkpoints of a PEAR training run: its `steps.TrainState` (parameters, optimizer state,
RNG, step and what resuming checks), saved every N steps with the newest `keep` kept, restored
onto the structure and shardings of a live state.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


def abstract_like(tree: Any) -> Any:
    """Returns `tree` as ShapeDtypeStructs that carry each array's sharding (a restore target)."""

    def one(a):
        if isinstance(a, jax.Array):
            return jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding)
        a = np.asarray(a)
        return jax.ShapeDtypeStruct(a.shape, a.dtype)

    return jax.tree.map(one, tree)


class Checkpoints:
    """A CheckpointManager over `directory` that saves every `every_steps` and keeps `keep`.

    Saves are asynchronous (orbax copies device arrays to host before `save` returns, then writes
    in the background) and committed atomically: a run killed mid-save leaves the previous
    checkpoint as the latest. Every process must call `save`/`restore` (orbax coordinates them).

    `save` and `restore` are explicit host<->device copies, so they work inside
    `jax.transfer_guard("disallow")`: orbax reads its own async device->host copies with
    `np.asarray` and restores through per-device callbacks, which the guard would count as
    implicit on accelerators.
    """

    def __init__(self, directory: str | os.PathLike, *, every_steps: int, keep: int):
        if keep < 1:
            raise ValueError(f"checkpoint.keep must be >= 1, got {keep}")
        self.directory = Path(directory).absolute()
        self.every_steps = every_steps
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True),
        )

    def latest_step(self) -> int | None:
        """Returns the newest committed step, or None when there is none."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def should_save(self, step: int) -> bool:
        return self.every_steps > 0 and step % self.every_steps == 0

    def save(self, step: int, state: Any) -> None:
        """Starts saving `state` as checkpoint `step` (no-op when that step is already saved)."""
        if step in self._manager.all_steps():
            return
        with jax.transfer_guard("allow"):
            self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

    def restore(self, step: int, target: Any) -> Any:
        """Returns checkpoint `step` restored into the structure, dtypes and shardings of `target`
        (a pytree of arrays, e.g. the live TrainState; only its shapes and shardings are read)."""
        with jax.transfer_guard("allow"):
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_like(target)))

    def restore_latest_intact(self, target: dict) -> tuple[int, dict] | None:
        """Returns (step, state) of the newest checkpoint that restores, or None when there is none.

        A damaged newest checkpoint (a truncated file, a disk that filled up) must not block a
        resume: it is skipped with a warning naming the step, and the next older one is tried.
        """
        skipped = []
        for step in sorted(self._manager.all_steps(), reverse=True):
            try:
                state = self.restore(step, target)
            except Exception as e:  # noqa: BLE001 - any failure to read a step means "damaged"
                logging.warning("checkpoint step %d in %s is damaged (%s: %s); trying an older one",
                                step, self.directory, type(e).__name__, str(e).splitlines()[0][:200])
                skipped.append(step)
                continue
            if skipped:
                logging.warning("resuming from checkpoint step %d; skipped damaged step(s) %s", step, skipped)
            return step, state
        if skipped:
            raise RuntimeError(f"every checkpoint in {self.directory} is damaged (steps {skipped}); "
                               "move the folder away to start afresh")
        return None

    def wait(self) -> None:
        """Blocks until pending saves are committed."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
