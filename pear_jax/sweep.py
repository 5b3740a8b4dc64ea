"""The λ sweep: one PEAR run per (λ, seed) cell, then the accuracy-vs-agreement trade-off report.

`sweep(config, workdir, mesh=...)` is resumable cell by cell: finished cells are read back, an
interrupted one resumes from its checkpoints.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import ml_collections
from jax.sharding import Mesh

import jaxrun
from pear_jax import report
from pear_jax.train import train_and_evaluate


def cell_dir(workdir: str | Path, lam: float, seed: int) -> Path:
    """Returns the run directory of one sweep cell."""
    return Path(workdir) / f"lam_{lam:g}" / f"seed_{seed}"


def sweep(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    mesh: Mesh,
    lams: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
    seeds: tuple[int, ...] = (0, 1, 2),
    make_writer: Callable[[Path], jaxrun.MetricWriter] | None = None,
) -> list[dict]:
    """Returns the per-λ aggregate rows after training every (λ, seed) cell and writing the report.

    Cells live in `workdir/lam_<λ>/seed_<s>`; a cell whose `final_metrics.json` exists is skipped,
    and an interrupted cell resumes from its checkpoints, so rerunning the sweep finishes it.
    `make_writer(cell_dir)` gives each cell its metric writer (closed after the cell).
    Writes `tradeoff.csv`, `tradeoff.png`, `report.md` and `sweep.json` into `workdir` (process 0).
    """
    if not lams or not seeds:
        raise ValueError(f"sweep needs at least one λ and one seed, got lams={lams}, seeds={seeds}")
    workdir = Path(workdir)
    cells = []
    todo = [(lam, seed) for lam in lams for seed in seeds]
    for i, (lam, seed) in enumerate(todo):
        out = cell_dir(workdir, lam, seed)
        done_file = out / "final_metrics.json"
        if done_file.exists():
            logging.info("sweep cell %d/%d (λ=%g, seed=%d): done already, skipping", i + 1, len(todo), lam, seed)
            cells.append(json.loads(done_file.read_text()))
            continue
        logging.info("sweep cell %d/%d: λ=%g, seed=%d -> %s", i + 1, len(todo), lam, seed, out)
        cell_cfg = config.copy_and_resolve_references()
        cell_cfg.lam, cell_cfg.seed = float(lam), int(seed)
        writer = make_writer(out) if make_writer is not None else None
        summary = train_and_evaluate(cell_cfg, out, mesh=mesh, writer=writer)
        if writer is not None:
            writer.close()
        cells.append({k: v for k, v in summary.items() if k not in ("params", "train_losses")})
    rows = report.aggregate_cells(cells)
    if jaxrun.is_main_process():
        report.write_tradeoff(rows, workdir, title=f"PEAR λ sweep on {cells[0]['dataset']} ({len(seeds)} seeds)")
        jaxrun.atomic_write_json(workdir / "sweep.json", {"lams": list(lams), "seeds": list(seeds), "rows": rows})
    return rows
