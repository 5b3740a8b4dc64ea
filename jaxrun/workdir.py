"""A run's working directory: an exclusive lock, the recorded config, and where caches live.

A workdir belongs to one run at a time. `WorkdirLock` takes an OS file lock (`fcntl.flock`) on
`<workdir>/.lock` and records who holds it (pid, host, start time) in the same file. The kernel
drops the lock when its process dies, however it dies, so a crashed run never leaves a lock that
blocks the next one; the record only serves the message a second process prints.

`check_config` records the config a run was started with (`config.json`) and refuses a resume
whose config differs, naming every differing field, unless the caller allows it.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any, Iterable, Mapping

from jaxrun.files import atomic_write_json


class WorkdirBusyError(RuntimeError):
    """Raised when another live process holds a workdir's lock."""


class ConfigMismatchError(ValueError):
    """Raised when a run resumes in a workdir whose recorded config differs from its own."""


class WorkdirLock:
    """Holds `<workdir>/.lock` exclusively while the run is alive; a context manager.

    Only one process per job takes it (the caller decides which, normally process 0): processes of
    one multi-host job share the workdir by design.
    """

    def __init__(self, workdir: str | os.PathLike, purpose: str = "run"):
        self.path = Path(workdir) / ".lock"
        self.purpose = purpose
        self._fd: int | None = None

    def acquire(self) -> "WorkdirLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise WorkdirBusyError(
                f"workdir {self.path.parent} is in use by {holder}; wait for it to finish, stop it, "
                f"or pass another --workdir"
            ) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "WorkdirLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        rec = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        rec = {}
    if not rec:
        return "another process"
    return f"{rec.get('purpose', 'run')} pid {rec.get('pid')} on host {rec.get('host')} since {rec.get('started')}"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Returns {'a.b.c': leaf} for a nested mapping (lists and tuples are leaves)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, name + "."))
        else:
            out[name] = list(v) if isinstance(v, tuple) else v
    return out


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any],
                       ignore: Iterable[str] = ()) -> list[str]:
    """Returns one line per field that differs between two nested configs ('field: old -> new')."""
    a, b = flatten(old), flatten(json.loads(json.dumps(new, default=str)))
    skip = tuple(ignore)
    lines = []
    for key in sorted(set(a) | set(b)):
        if skip and key.startswith(skip):
            continue
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if va != vb:
            lines.append(f"{key}: {va!r} -> {vb!r}")
    return lines


def check_config(workdir: str | os.PathLike, config: Mapping[str, Any], *, allow_change: bool = False,
                 ignore: Iterable[str] = (), filename: str = "config.json", write: bool = True) -> None:
    """Records `config` in `<workdir>/<filename>`, or checks it against the recorded one.

    A differing config raises ConfigMismatchError listing the fields, because resuming under it
    would relabel results computed with the old one. `allow_change` records the new config
    instead (the caller's explicit go-ahead); `ignore` lists field prefixes that may change
    between resumes (e.g. logging settings).
    """
    path = Path(workdir) / filename
    if path.exists():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ConfigMismatchError(f"{path}: recorded config is not valid JSON ({e})") from None
        diff = config_differences(recorded, config, ignore)
        if diff and not allow_change:
            raise ConfigMismatchError(
                f"{path.parent} holds a run with a different config ({len(diff)} field(s) differ: "
                + "; ".join(diff) + "); use another workdir, or pass --allow_config_change to resume anyway"
            )
        if not diff:
            return
    if write:
        atomic_write_json(path, json.loads(json.dumps(config, default=str)))


def cache_dir(*parts: str) -> Path:
    """Returns the project's cache folder (`$SOS_PEAR_CACHE`, else `$XDG_CACHE_HOME/sos_pear_jax`,
    else ~/.cache/sos_pear_jax), joined with `parts`. Outputs go under the run's workdir; only
    caches (compiled programs, downloaded wheels, models) go here."""
    root = os.environ.get("SOS_PEAR_CACHE")
    if not root:
        root = str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sos_pear_jax")
    return Path(root).joinpath(*parts)


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Persists compiled XLA programs under `path` (default `cache_dir('jax')`) so a second run of
    the same shapes skips compilation. A cache the user already configured wins. Returns the
    folder in use, or None when JAX has caching turned off by the user."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir)
    if os.environ.get("JAX_ENABLE_COMPILATION_CACHE", "").lower() in ("0", "false"):
        return None
    folder = Path(path) if path is not None else cache_dir("jax")
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # Small CPU programs compile in well under JAX's default 1 s threshold, yet dozens of them
    # made up most of a default run's time: cache them all.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder
