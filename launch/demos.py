"""What the launchers run when given no inputs: demos, kept out of the libraries.

- `analysis_demo_inputs`: the published SOS-Bench tables when this checkout sits next to them
  (`../shared/anchors/sos-bench`), else the embedded default suite (`configs/sos/default.py`) on
  a few tiny random models.
- `judge_demo_set`: three questions answered by a baseline and two models, for an offline judge run.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from . import common

ANCHOR_SUBDIR = Path("shared") / "anchors" / "sos-bench"


def find_anchors(start: str | Path | None = None) -> Path | None:
    """Returns the published SOS-Bench tables folder if `start`, `../shared/anchors/sos-bench` of the
    checkout, or the same beside the working directory holds them; else None."""
    checkout = Path(__file__).resolve().parents[1]
    candidates = [Path(start)] if start is not None else []
    candidates += [checkout.parent / ANCHOR_SUBDIR, Path.cwd().parent / ANCHOR_SUBDIR, checkout / ANCHOR_SUBDIR]
    return next((c for c in candidates if (c / "artifacts" / "eleuther_wandb.csv").is_file()), None)


def analysis_demo_inputs(workdir: str | Path, n_models: int = 4, anchors: str | Path | None = None,
                         mesh: Any = None):
    """Returns the `AnalysisInputs` of a run without --results.

    Anchors: the Eleuther W&B results vs Arena-Hard and LiveBench, the gpt-4o multifactor
    judgments and the name map that joins them. Without them, the embedded default suite runs on
    `n_models` tiny random models (reused if already in `workdir`) and only factor scores are
    reported. `mesh` defaults to every device on the data axis.
    """
    from sos_jax.analysis.report import ANCHOR_NAME_MAP, AnalysisInputs

    root = find_anchors(anchors)
    if root is not None:
        art = root / "artifacts"
        judg = art / "exploded-multifactor-scoring-4o-judge-scores-only.csv"
        return AnalysisInputs(
            results=[art / "eleuther_wandb.csv"],
            leaderboards=[art / "arena_hard_auto.csv", art / "livebench_groups.csv"],
            judgments=judg if judg.is_file() else None,
            name_map=ANCHOR_NAME_MAP,
            judge_baseline="gpt-4-0314 (baseline)",
            description=f"published SOS-Bench tables in {root}",
        )
    path = demo_results(Path(workdir) / "demo_results", n_models=n_models, mesh=mesh)
    return AnalysisInputs(results=[path], description=f"harness demo results ({n_models} tiny random models) in {path}")


def demo_results(workdir: str | Path, n_models: int = 4, mesh: Any = None) -> Path:
    """Returns `workdir` after running (or reusing) `configs/sos/default.py` on `builtin:tiny:<seed>`
    models, seeds 0..n_models-1."""
    if n_models < 1:
        raise ValueError(f"n_models must be >= 1, got {n_models}")
    import jaxrun
    from sos_jax.harness.config import run_config

    config = runpy.run_path(common.config_path("sos", "default.py"))["get_config"]()
    config.models = [f"builtin:tiny:{seed}" for seed in range(n_models)]
    config.tensorboard = False
    run_config(config, workdir, mesh if mesh is not None else jaxrun.make_mesh())
    return Path(workdir)


def judge_demo_set() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """Returns a tiny (questions, answers) set: a baseline and two models, three questions."""
    questions = {
        "demo-1": "What is the capital of France?",
        "demo-2": "Give one tip for writing readable code.",
        "demo-3": "Is it safe to mix bleach and ammonia?",
    }
    answers = {
        "baseline": {
            "demo-1": "Paris.",
            "demo-2": "Use descriptive names.",
            "demo-3": "No. Mixing them releases toxic chloramine gas.",
        },
        "verbose": {
            "demo-1": "# Answer\n\nThe capital of **France** is **Paris**, its largest city.",
            "demo-2": "## Tips\n- Use descriptive names\n- Keep functions short\n- Write tests",
            "demo-3": "**No.** Bleach plus ammonia produces chloramine vapours, which harm the lungs.",
        },
        "terse": {"demo-1": "Lyon.", "demo-2": "Comments.", "demo-3": "Yes."},
    }
    return questions, answers
