"""Writes the SOS-Bench analysis report (factor scores, leaderboard correlations, judge BT plots).

    sos-analyze --results=RESULTS[,MORE] [--leaderboards=A.csv,B.csv] [--judgments=J.csv]
                [--name_map=names.yaml] --workdir=DIR [--config=configs/sos/analyze.py]

With no --results it analyses the demo inputs (`launch/demos.py`): the published SOS-Bench tables
when ../shared/anchors/sos-bench exists, else the embedded default suite on a few tiny random
models. The analysis runs in one process (no mesh or multi-host flags); it writes only on process 0.
"""

from __future__ import annotations

import logging
from pathlib import Path

from absl import app, flags

from . import common

common.define_run_flags()
_CONFIG = common.define_config(common.config_path("sos", "analyze.py"), "Analysis settings.", lock_config=True)
_RESULTS = flags.DEFINE_list("results", [], "lm-eval results JSON files/directories or wide CSV exports.")
_LEADERBOARDS = flags.DEFINE_list("leaderboards", [], "Leaderboard CSVs (Arena-Hard, LiveBench, or model + score columns).")
_JUDGMENTS = flags.DEFINE_string("judgments", None, "Pairwise judgments (.jsonl or SOS multifactor .csv) for BT leaderboards.")
_NAME_MAP = flags.DEFINE_string("name_map", None, "Model-name map (.yaml/.json/.csv).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/sos_analyze", "Where report.md, analysis.json and plots/ go.")


def inputs_from_flags(workdir: str, demo_models: int):
    """Returns the `AnalysisInputs` the flags name, or the demo's (flags given beside it take precedence)."""
    from sos_jax.analysis.report import AnalysisInputs

    if _RESULTS.value:
        return AnalysisInputs(results=list(_RESULTS.value), leaderboards=list(_LEADERBOARDS.value),
                              judgments=_JUDGMENTS.value, name_map=_NAME_MAP.value)
    from .demos import analysis_demo_inputs

    demo = analysis_demo_inputs(workdir, n_models=demo_models)
    demo.leaderboards = list(_LEADERBOARDS.value) or demo.leaderboards
    demo.judgments = _JUDGMENTS.value if _JUDGMENTS.value is not None else demo.judgments
    demo.name_map = _NAME_MAP.value if _NAME_MAP.value is not None else demo.name_map
    return demo


def main(argv: list[str]) -> None:
    """Runs `sos_jax.analysis.report.analyze(config, workdir, inputs)` on the flags' inputs."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from sos_jax.analysis.config import validate

    config = validate(_CONFIG.value)  # before JAX starts or any input is read
    for flag, paths in (("results", _RESULTS.value), ("leaderboards", _LEADERBOARDS.value),
                        ("judgments", [_JUDGMENTS.value] if _JUDGMENTS.value else []),
                        ("name_map", [_NAME_MAP.value] if _NAME_MAP.value else [])):
        missing = [p for p in paths if not Path(p).expanduser().exists()]
        if missing:
            raise FileNotFoundError(f"--{flag}={','.join(paths)}: {missing[0]} does not exist")
    common.start_jax()
    common.start_backend_quietly()
    from jaxrun import is_main_process
    from sos_jax.analysis.report import analyze

    inputs = inputs_from_flags(_WORKDIR.value, config.get("demo_models", 4))
    analyze(config, _WORKDIR.value, inputs, write=is_main_process())
    logging.info("report in %s", _WORKDIR.value)


def run() -> None:
    """Console entry point (`sos-analyze`)."""
    common.run(main)


if __name__ == "__main__":
    run()
