"""The import graph points one way: launchers -> libraries -> jaxrun, and inside sos_jax
models <- engine <- harness <- judge <- analysis, tasks <- harness.

Every import in the repository's own code is read with `ast`, including imports inside functions
(the lazy ones), relative imports and `importlib.import_module("literal")`, so a shortcut taken
to dodge an import cycle still counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Top-level names that are this repository's code; every other import is a third-party package.
# `sos_pear_launch` is the name the wheel installs `launch/` under (see setup.py).
FIRST_PARTY = {"jaxrun", "pear_jax", "sos_jax", "launch", "sos_pear_launch", "configs", "bench", "tests"}
_SOS = ("models", "engine", "tasks", "harness", "judge", "analysis")

# Layer -> the first-party layers it may import (itself included). A layer missing on the right
# is a layer it must never import, directly or lazily.
ALLOWED: dict[str, set[str]] = {
    "jaxrun": {"jaxrun"},
    "pear_jax": {"pear_jax", "jaxrun"},
    "sos_jax": {"sos_jax", "jaxrun"},  # the package __init__
    "sos_jax.models": {"sos_jax.models", "jaxrun"},
    "sos_jax.engine": {"sos_jax.engine", "sos_jax.models", "jaxrun"},
    "sos_jax.tasks": {"sos_jax.tasks", "jaxrun"},
    "sos_jax.harness": {"sos_jax.harness", "sos_jax.engine", "sos_jax.models", "sos_jax.tasks", "jaxrun"},
    "sos_jax.judge": {"sos_jax.judge", "sos_jax.harness", "sos_jax.engine", "sos_jax.models", "sos_jax.tasks", "jaxrun"},
    "sos_jax.analysis": {"sos_jax.analysis", "sos_jax.judge", "sos_jax.harness", "sos_jax.engine", "sos_jax.models",
                         "sos_jax.tasks", "jaxrun"},
    "launch": {"launch", "pear_jax", *(f"sos_jax.{p}" for p in _SOS), "sos_jax", "jaxrun"},
    # Config files are data for the launchers: only the libraries' light config modules (checked
    # separately: loading a config imports no jax/flax/orbax).
    "configs": {"pear_jax.config", "sos_jax.harness.config", "sos_jax.analysis.config"},
    "bench": {"bench", "pear_jax", *(f"sos_jax.{p}" for p in _SOS), "sos_jax", "jaxrun"},
}
# Layers whose allowed entries name single modules rather than whole layers.
_MODULE_LEVEL = {"configs"}


def layer_of(module: str) -> str | None:
    """Returns the layer a dotted first-party module belongs to, or None for third-party code."""
    parts = module.split(".")
    top = parts[0]
    if top not in FIRST_PARTY:
        return None
    if top == "sos_pear_launch":
        return "launch"
    if top == "sos_jax" and len(parts) > 1 and parts[1] in _SOS:
        return f"sos_jax.{parts[1]}"
    return top


def module_name(path: Path, root: Path = REPO) -> str:
    """Returns the dotted module name of a file under `root` (a package __init__ names its package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Returns (line, dotted target) for every import in `source`, at any depth.

    `from a import b` yields both `a` and `a.b` (b may be a submodule); relative imports are
    resolved against `module`; `importlib.import_module("x")` and `__import__("x")` with a
    literal name count as imports of `x`.
    """
    package = module if is_package else module.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                out.append((node.lineno, node.args[0].value))
    return out


def violations(source: str, module: str, is_package: bool = False, where: str = "") -> list[str]:
    """Returns one message per import in `source` that its layer may not make."""
    own = layer_of(module)
    if own is None or own not in ALLOWED:
        return []
    allowed = ALLOWED[own]
    found = []
    for line, target in imports(source, module, is_package):
        other = layer_of(target)
        if other is None:
            continue
        if own in _MODULE_LEVEL:
            ok = any(target == m or target.startswith(m + ".") for m in allowed)
            # `from pear_jax import config` yields "pear_jax" too; the ".config" entry decides.
            ok = ok or any(m.startswith(target + ".") for m in allowed)
        else:
            ok = other in allowed
        if not ok:
            found.append(f"{where or module}:{line}: {own} imports {target} (layer {other}); "
                         f"{own} may import only {sorted(allowed)}")
    return found


def _sources() -> list[Path]:
    roots = ["jaxrun", "pear_jax", "sos_jax", "launch", "configs", "bench"]
    return sorted(p for r in roots for p in (REPO / r).rglob("*.py"))


def test_the_walk_sees_every_layer():
    layers = {layer_of(module_name(p)) for p in _sources()}
    assert layers >= set(ALLOWED), f"no files found for {set(ALLOWED) - layers}"


def test_imports_point_one_way():
    found = []
    for path in _sources():
        found += violations(path.read_text(), module_name(path), path.name == "__init__.py",
                            str(path.relative_to(REPO)))
    assert not found, "layering violations:\n" + "\n".join(found)


def test_no_library_imports_tests_or_bench():
    for path in _sources():
        module = module_name(path)
        if layer_of(module) in ("bench",):
            continue
        for line, target in imports(path.read_text(), module, path.name == "__init__.py"):
            assert layer_of(target) not in ("tests", "bench"), f"{path}:{line} imports {target}"


@pytest.mark.parametrize("module, source, bad", [
    # A lazy import inside a function is still an import.
    ("sos_jax.engine.engine", "def f():\n    from sos_jax.harness import runner\n", "sos_jax.harness"),
    ("sos_jax.models.decoder", "import sos_jax.engine.packing\n", "sos_jax.engine"),
    ("sos_jax.tasks.bbh", "from sos_jax.engine import metrics\n", "sos_jax.engine"),
    ("sos_jax.judge.runner", "from ..analysis import report\n", "sos_jax.analysis"),
    ("jaxrun.mesh", "import importlib\nimportlib.import_module('pear_jax.train')\n", "pear_jax"),
    ("pear_jax.train", "from sos_jax.harness import runner\n", "sos_jax.harness"),
    ("sos_jax.harness.runner", "from launch import common\n", "launch"),
    ("pear_jax.data", "from sos_pear_launch import common\n", "launch"),
    ("configs.pear.smoke", "from pear_jax import train\n", "pear_jax.train"),
    ("configs.sos.default", "from launch import common\n", "launch"),
])
def test_checker_catches_violations(module, source, bad):
    found = violations(source, module)
    assert len(found) >= 1 and bad in found[0], found


@pytest.mark.parametrize("module, source", [
    ("sos_jax.analysis.report", "def f():\n    from sos_jax.judge import bt_leaderboard\n"),
    ("sos_jax.harness.runner", "from sos_jax.tasks.registry import Registry\nimport numpy\n"),
    ("launch.sos_eval", "from . import common\nfrom sos_jax.harness import runner\n"),
    ("configs.pear.smoke", "from pear_jax.config import base_config\nimport ml_collections\n"),
    ("configs.sos.smoke", "from sos_jax.harness import config\n"),
])
def test_checker_allows_downward_imports(module, source):
    assert violations(source, module) == []


def test_relative_imports_resolve_against_the_package():
    assert imports("from . import common\n", "launch.sos_eval") == [(1, "launch"), (1, "launch.common")]
    assert imports("from .x import y\n", "sos_jax.judge", is_package=True)[0] == (1, "sos_jax.judge.x")
    assert imports("from ..engine import packing\n", "sos_jax.harness.runner")[0] == (1, "sos_jax.engine")
