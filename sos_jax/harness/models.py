"""Turns a model spec into a loaded `LanguageModel`: a local HF directory, a hub id, or a built-in.

`builtin:<preset>[:<seed>]` (e.g. `builtin:tiny`, `builtin:bench25m:1`) writes a random HF-format
Llama checkpoint with a BPE tokenizer (`sos_jax.models.write_random_checkpoint`) into a cache
folder once and loads that: the embedded default's model, offline, meaningless scores.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

_BUILTIN = re.compile(r"^builtin:(?P<preset>[A-Za-z0-9_]+)(?::(?P<seed>\d+))?$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


def default_cache_dir() -> Path:
    """Returns where built-in random checkpoints are written: the project's one cache folder
    (`jaxrun.workdir.cache_dir('models')`; `$SOS_PEAR_CACHE` moves it)."""
    from jaxrun.workdir import cache_dir

    return cache_dir("models")


def resolve_model(spec: str, cache_dir: str | os.PathLike | None = None) -> str:
    """Returns the directory or hub id to load for `spec`; a missing local path raises FileNotFoundError."""
    m = _BUILTIN.match(spec)
    if m:
        from sos_jax.models import write_random_checkpoint

        preset, seed = m["preset"], int(m["seed"] or 0)
        out = Path(cache_dir or default_cache_dir()) / f"random-llama-{preset}-seed{seed}"
        if not (out / "config.json").is_file():
            write_random_checkpoint(out, model_type="llama", preset=preset, seed=seed)
        return str(out)
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"model directory {path} has no config.json (expected a Hugging Face checkpoint)")
        return str(path)
    looks_local = spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or not _HUB_ID.match(spec)
    if looks_local:
        raise FileNotFoundError(f"model path {spec!r} does not exist (and is not a hub id like 'org/name')")
    return spec


def parse_models(models: str | Sequence[str] | None) -> list[str]:
    """Returns model specs from a comma-separated string, a list, or `@file` / a .txt file (one per line)."""
    if models is None:
        return []
    if isinstance(models, str):
        text = models.strip()
        file = text[1:] if text.startswith("@") else text
        if text.startswith("@") or (file.endswith(".txt") and Path(file).is_file()):
            if not Path(file).is_file():
                raise FileNotFoundError(f"models file {file} does not exist")
            lines = Path(file).read_text(encoding="utf-8").splitlines()
            return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
        return [m.strip() for m in text.split(",") if m.strip()]
    return [str(m) for m in models]


def load_engine(spec: str, mesh: Any, dtype: str = "float32", engine_kwargs: Mapping[str, Any] | None = None,
                cache_dir: str | os.PathLike | None = None):
    """Returns a `sos_jax.engine.Engine` for `spec` on `mesh` (the runner's `LanguageModel`)."""
    import jax.numpy as jnp

    from sos_jax.engine.engine import Engine

    path = resolve_model(spec, cache_dir)
    try:
        return Engine.from_pretrained(path, mesh, dtype=jnp.dtype(dtype), **dict(engine_kwargs or {}))
    except OSError as e:
        raise FileNotFoundError(f"model {spec!r}: could not load {path!r}: {e}") from e
