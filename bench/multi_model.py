"""Benchmark: K PEAR models trained as one stacked program (`pear_jax.tensions.trainer`) against K
sequential runs of the existing single-model trainer (`pear_jax.train.train_and_evaluate`), in the
same run on the same machine, with the parameters compared model by model.

Setting: California Housing from the pear-xai wheel (first `--rows` training rows), the paper's
3×100 ReLU MLP, batch 64, λ = 0.5 (vanilla gradient vs 20-step IG, zero baseline), `--epochs`
epochs, K = `--models` seeds. Both sides are timed end to end (model init, compilation, training);
after an untimed one-model warm-up of each side, rounds alternate which side goes first and the
medians are reported, because the machine is shared.

`grid_minutes` is the tensions grid's wall time from `<--grid_workdir>/results.json`, written by
`python -m launch.pear_tensions`: the invocation's wall time, or for a resumed grid the sum of its
stacks' recorded train + measure times when that is larger; null when that file is absent.

  python bench/multi_model.py [--models=6] [--rows=2048] [--epochs=1] [--rounds=3] [--grid_workdir=runs/pear_tensions]

The last line is JSON: speedup_vs_sequential, max_param_diff, grid_minutes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import jaxrun  # noqa: E402
from pear_jax import data as data_lib  # noqa: E402
from pear_jax import train  # noqa: E402
from pear_jax.config import base_config  # noqa: E402
from pear_jax.tensions import trainer  # noqa: E402


def grid_minutes(workdir: Path) -> float | None:
    """Returns the grid's summed stack wall time in minutes from results.json, or None."""
    path = workdir / "results.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    stacks = {r["stack_id"]: r["stack_seconds"] for r in results["records"]}
    # One uninterrupted invocation: its wall time (data, calibration, report included). A resumed
    # grid: the sum of its stacks' recorded train + measure times.
    return max(results["seconds"], sum(stacks.values())) / 60.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=int, default=6)
    p.add_argument("--rows", type=int, default=2048)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--grid_workdir", default="runs/pear_tensions")
    p.add_argument("--model_loop", default="auto", choices=("auto", "vmap", "map"),
                   help="how the stack runs its models (see trainer.StackSettings.model_loop)")
    args = p.parse_args()
    logging.getLogger().setLevel(logging.WARNING)

    full = data_lib.load("california_housing", max_train_rows=args.rows, max_test_rows=64)
    data = data_lib.TabularData(full.x_train, full.y_train, full.x_test, full.y_test, full.feature_names,
                                full.classes, full.name)
    cfg = base_config("california_housing")
    cfg.lam, cfg.ig_baseline, cfg.num_epochs = 0.5, "zeros", args.epochs
    cfg.eval.every_epochs, cfg.final.rows, cfg.checkpoint.every_steps, cfg.log_every_steps = -1, 0, 0, 10**9
    seeds = list(range(args.models))
    mesh = jaxrun.make_mesh()
    settings = trainer.StackSettings(lam=0.5, mu=cfg.mu, ig_steps=cfg.ig_steps, batch_size=cfg.batch_size,
                                       weighted=False, model_loop=args.model_loop)

    def sequential(seeds=seeds):
        out = []
        for s in seeds:
            c = cfg.copy_and_resolve_references()
            c.seed = s
            params = train.train_and_evaluate(c, None, mesh=mesh, data=data)["params"]
            out.append(jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), params))
        return out

    def stacked(seeds=seeds):
        st = trainer.init_stack(cfg.model, cfg.optim, settings, num_features=data.num_features, seeds=seeds,
                                weights=np.ones((len(seeds), len(data.y_train))), noise=np.zeros(len(seeds)),
                                mesh=mesh)
        st = trainer.train_stack(st, data.x_train, data.y_train, num_epochs=args.epochs, mesh=mesh)
        return [trainer.unstack(st.params, k) for k in range(len(seeds))]

    # Untimed warm-up of both sides with one model: the process's one-time costs (the CPU
    # client, LLVM, module-level kernels both sides share) would otherwise fall on whichever
    # side runs first. A 1-model stack compiles other shapes than the K-model one, so nothing
    # of the timed stacked run is cached by it.
    sequential(seeds[:1])
    stacked(seeds[:1])
    t_seq, t_stk = [], []
    for r in range(args.rounds):
        # The order alternates between rounds, so slow phases of a shared machine hit both.
        for side in (("stacked", "sequential") if r % 2 == 0 else ("sequential", "stacked")):
            t0 = time.perf_counter()
            if side == "stacked":
                stk = stacked()
                t_stk.append(time.perf_counter() - t0)
            else:
                seq = sequential()
                t_seq.append(time.perf_counter() - t0)
        print(f"round {r}: stacked {t_stk[-1]:.1f}s, sequential {t_seq[-1]:.1f}s ({args.models} models)", flush=True)
    diff = max(float(np.max(np.abs(a - b))) for k in range(len(seeds))
               for a, b in zip(jax.tree.leaves(seq[k]), jax.tree.leaves(stk[k])))
    steps = args.epochs * (len(data.y_train) // cfg.batch_size)
    speedup = statistics.median(t_seq) / statistics.median(t_stk)
    print(f"{args.models} models × {steps} steps (California, 3×100 MLP, λ=0.5, batch 64), end to end incl. compile, "
          f"model loop {args.model_loop}:")
    print(f"  stacked    median {statistics.median(t_stk):.1f}s  ({statistics.median(t_stk) / args.models:.2f}s per model)")
    print(f"  sequential median {statistics.median(t_seq):.1f}s  ({statistics.median(t_seq) / args.models:.2f}s per model)")
    print(f"  speedup {speedup:.2f}x, max |param diff| {diff:.2e}, load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    gm = grid_minutes(REPO / args.grid_workdir if not os.path.isabs(args.grid_workdir) else Path(args.grid_workdir))
    print(json.dumps({"speedup_vs_sequential": round(speedup, 3), "max_param_diff": diff,
                      "grid_minutes": None if gm is None else round(gm, 2), "models": args.models,
                      "steps_per_model": steps, "model_loop": args.model_loop, "stacked_s": statistics.median(t_stk),
                      "sequential_s": statistics.median(t_seq), "load_avg": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
