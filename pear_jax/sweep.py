"""The λ sweep: one PEAR run per (λ, seed) cell, then the accuracy-vs-agreement trade-off report.

`sweep(config, workdir, mesh=...)` is resumable cell by cell: finished cells are read back, an
interrupted one resumes from its checkpoints.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import ml_collections
from jax.sharding import Mesh

import jaxrun
from jaxrun.workdir import check_config
from pear_jax import report
from pear_jax.config import config_to_dict, validate, validate_sweep
from pear_jax.train import RESUMABLE_FIELDS, finished_summary, train_and_evaluate


def cell_dir(workdir: str | Path, lam: float, seed: int) -> Path:
    """Returns the run directory of one sweep cell."""
    return Path(workdir) / f"lam_{lam:g}" / f"seed_{seed}"


def cell_config(config: ml_collections.ConfigDict, lam: float, seed: int) -> ml_collections.ConfigDict:
    """Returns the config of one sweep cell: `config` with its λ and seed."""
    cell = config.copy_and_resolve_references()
    cell.lam, cell.seed = float(lam), int(seed)
    return cell


def sweep(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    mesh: Mesh,
    lams: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
    seeds: tuple[int, ...] = (0, 1, 2),
    make_writer: Callable[[Path, int | None], jaxrun.MetricWriter] | None = None,
    allow_config_change: bool = False,
) -> list[dict]:
    """Returns the per-λ aggregate rows after training every (λ, seed) cell and writing the report.

    Cells live in `workdir/lam_<λ>/seed_<s>`; a finished cell of the same config is read back, and
    an interrupted cell resumes from its checkpoints, so rerunning the sweep finishes it. Every λ,
    seed and config field is checked before the first cell trains, and a cell recorded with a
    different config (e.g. another number of epochs) is refused naming the fields unless
    `allow_config_change`. `make_writer(cell_dir, purge_step)` gives each cell its metric writer
    (closed after the cell).
    Writes `tradeoff.csv`, `tradeoff.png`, `report.md` and `sweep.json` into `workdir` (process 0).
    """
    lams, seeds = validate_sweep(lams, seeds)
    workdir = Path(workdir)
    todo = [(lam, seed, cell_config(config, lam, seed)) for lam in lams for seed in seeds]
    for _, _, cell_cfg in todo:
        validate(cell_cfg)
    for lam, seed, cell_cfg in todo:  # every recorded cell config, before the first cell trains
        out = cell_dir(workdir, lam, seed)
        if (out / "config.json").is_file():
            check_config(out, config_to_dict(cell_cfg), allow_change=allow_config_change, write=False,
                         ignore=RESUMABLE_FIELDS)
    cells = []
    for i, (lam, seed, cell_cfg) in enumerate(todo):
        out = cell_dir(workdir, lam, seed)
        finished = finished_summary(cell_cfg, out)
        if finished is not None:
            logging.info("sweep cell %d/%d (λ=%g, seed=%d): done already, skipping", i + 1, len(todo), lam, seed)
            cells.append(finished)
            continue
        logging.info("sweep cell %d/%d: λ=%g, seed=%d -> %s", i + 1, len(todo), lam, seed, out)
        writers = []

        def cell_writer(purge_step, out=out, writers=writers):
            writers.append(make_writer(out, purge_step) if make_writer is not None else jaxrun.MetricWriter(None))
            return writers[-1]

        try:
            summary = train_and_evaluate(cell_cfg, out, mesh=mesh, make_writer=cell_writer,
                                         allow_config_change=allow_config_change)
        finally:
            for w in writers:
                w.close()
        cells.append({k: v for k, v in summary.items() if k not in ("params", "train_losses")})
    rows = report.aggregate_cells(cells)
    if jaxrun.is_main_process():
        report.write_tradeoff(rows, workdir, title=f"PEAR λ sweep on {cells[0]['dataset']} ({len(seeds)} seeds)")
        jaxrun.atomic_write_json(workdir / "sweep.json", {"lams": list(lams), "seeds": list(seeds), "rows": rows})
    return rows
