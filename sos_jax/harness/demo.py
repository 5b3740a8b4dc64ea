"""The embedded default run: the whole suite on small built-in random models over the built-in samples.

`demo_results(workdir, n_models)` is what the analysis launcher's no-flag demo reads: it runs (or
reuses, thanks to the resumable store) the default suite for `builtin:tiny:<seed>` models, seeds
0..n-1, and returns the workdir holding one results directory per model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sos_jax.harness.models import enable_compilation_cache, load_engine
from sos_jax.harness.runner import EvalSettings, run_suite

# Random models never stop on their own: cap generation so the demo takes minutes, not hours.
DEMO_MAX_GEN_TOKS = 32


def demo_settings() -> EvalSettings:
    """Returns the embedded default's settings: every task, built-in samples, short generations."""
    return EvalSettings(tasks=("sos",), data_source="sample", max_gen_toks=DEMO_MAX_GEN_TOKS)


def demo_results(workdir: str | os.PathLike, n_models: int = 4, mesh: Any = None) -> Path:
    """Returns `workdir` after running (or reusing) the embedded default for `n_models` random models.

    `mesh` defaults to all devices on the data axis (`jaxrun.make_mesh()`).
    """
    if n_models < 1:
        raise ValueError(f"n_models must be >= 1, got {n_models}")
    if mesh is None:
        from jaxrun import make_mesh

        mesh = make_mesh()
    workdir = Path(workdir)
    enable_compilation_cache(workdir / ".jax_cache")
    models = [f"builtin:tiny:{seed}" for seed in range(n_models)]
    run_suite(models, demo_settings(), workdir, lambda m: load_engine(m, mesh, cache_dir=workdir / "models"))
    return workdir
