"""The tensions grid: every (dataset, λ, DP, reweighing, seed) model trained in stacks, measured on
every axis, and reported.

`run(config, workdir, mesh=..., writer=...)` is the whole study. Per dataset and λ there are two
stacked programs, DP off and DP on (both ε targets: they differ only in the noise multiplier);
each stack holds reweighing off/on × seeds (× ε). A model's results are one JSON file,
`<dataset>/<cell>/seed_<s>.json`, written as soon as its stack finishes; a rerun trains only the
models whose file is missing (resumable per cell), then rewrites the report from all files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

import jaxrun
from pear_jax import explainers
from pear_jax.tensions import data as data_lib
from pear_jax.tensions import dp, fairness, privacy, report, trainer, transparency


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid cell (all interventions fixed) and seed."""

    lam: float
    epsilon: float | None  # None: DP off
    reweigh: bool
    seed: int

    @property
    def name(self) -> str:
        eps = "off" if self.epsilon is None else f"{self.epsilon:g}"
        return f"lam_{self.lam:g}-dp_{eps}-rw_{int(self.reweigh)}"


def cells_of(config: ml_collections.ConfigDict, has_groups: bool) -> list[Cell]:
    """Returns every cell × seed of one dataset (no reweighing without groups)."""
    rws = tuple(config.reweighing) if has_groups else (False,)
    return [Cell(float(lam), eps, bool(rw), int(s)) for lam in config.lams
            for eps in (None, *[float(e) for e in config.dp_epsilons]) for rw in rws for s in config.seeds]


def _result_path(workdir: Path, dataset: str, cell: Cell) -> Path:
    return workdir / dataset / cell.name / f"seed_{cell.seed}.json"


def _settings(config, lam: float, use_dp: bool, weighted: bool = True) -> trainer.StackSettings:
    return trainer.StackSettings(lam=lam, mu=config.mu, explainer_a=config.explainer_a,
                                 explainer_b=config.explainer_b, strength=config.strength,
                                 ig_steps=config.ig_steps, batch_size=config.batch_size, dp=use_dp,
                                 l2_clip=config.dp_l2_clip, weighted=weighted, model_loop=config.model_loop)


def evaluate_model(apply_fn, params, d: data_lib.GroupedData, *, config, seed: int) -> dict[str, float]:
    """Returns every per-model metric: accuracy and fairness on the test split, loss and
    explanation MIAs (equal-size train/test samples), transparency on held-out rows."""
    params = jax.tree.map(jnp.asarray, params)
    logits_fn = jax.jit(apply_fn)
    groups = d.has_groups
    pred = np.asarray(jnp.argmax(logits_fn(params, jnp.asarray(d.x_test)), axis=-1))
    out: dict[str, float] = {}
    if groups:
        out.update(fairness.group_accuracies(d.y_test, pred, d.g_test))
        out["dp_diff"] = fairness.demographic_parity_difference(pred, d.g_test)
        out["eo_diff"] = fairness.equalized_odds_difference(d.y_test, pred, d.g_test)
    else:
        out["accuracy"] = float((pred == d.y_test).mean())

    # Membership inference: m training rows (members) vs m test rows, the same for every model.
    m = min(config.eval.mia_rows, len(d.y_train), len(d.y_test))
    gen = np.random.default_rng(1234)
    mem = np.sort(gen.permutation(len(d.y_train))[:m])
    non = np.sort(gen.permutation(len(d.y_test))[:m])
    x = np.concatenate([d.x_train[mem], d.x_test[non]])
    y = np.concatenate([d.y_train[mem], d.y_test[non]])
    g = np.concatenate([d.g_train[mem], d.g_test[non]])
    is_member = np.r_[np.ones(m, bool), np.zeros(m, bool)]
    ce = np.asarray(optax.softmax_cross_entropy_with_integer_labels(logits_fn(params, jnp.asarray(x)), jnp.asarray(y)))
    grads = np.asarray(explainers.vanilla_gradient(apply_fn, params, jnp.asarray(x), jnp.asarray(y)))
    for prefix, scores in (("loss_mia", privacy.loss_scores(ce)), ("expl_mia", privacy.explanation_scores(grads))):
        out.update({f"{prefix}_{k}": v for k, v in
                    privacy.attack_summary(scores, is_member, g if groups else None).items()})

    # Transparency on held-out rows not used by the attacks' sample order.
    rows = min(config.eval.explain_rows, len(d.y_test))
    pick = np.sort(np.random.default_rng(99).permutation(len(d.y_test))[:rows])
    attrs = transparency.all_attributions(apply_fn, params, d.x_test[pick], d.y_test[pick], seed=seed,
                                          ig_steps=config.ig_steps)
    out.update(transparency.transparency_metrics(attrs, d.g_test[pick], d.sensitive_feature, config.eval.k))
    return out


def _train_and_measure(config, d: data_lib.GroupedData, todo: list[Cell], use_dp: bool, lam: float,
                       noise_for: dict, eps_for: dict, mesh: Mesh, workdir: Path | None,
                       writer: jaxrun.MetricWriter) -> list[dict]:
    settings = _settings(config, lam, use_dp, weighted=any(c.reweigh for c in todo))
    n = len(d.y_train)
    weights_rw = fairness.reweighing_weights(d.y_train, d.g_train) if d.has_groups else np.ones(n, np.float32)
    weights = np.stack([weights_rw if c.reweigh else np.ones(n, np.float32) for c in todo])
    noise = [noise_for[c.epsilon] if c.epsilon is not None else 0.0 for c in todo]
    stack = trainer.init_stack(config.model, config.optim, settings, num_features=d.num_features,
                               seeds=[c.seed for c in todo], weights=weights, noise=noise, mesh=mesh)
    t0 = time.perf_counter()
    tag = f"{d.name}/lam_{lam:g}-dp_{'on' if use_dp else 'off'}"

    def on_epoch(epoch, losses):
        writer.scalars(epoch + 1, {f"{tag}/{c.name}-seed_{c.seed}/train_loss": float(losses[:, k].mean())
                                   for k, c in enumerate(todo)})

    stack = trainer.train_stack(stack, d.x_train, d.y_train, num_epochs=config.num_epochs, mesh=mesh,
                                on_epoch=on_epoch)
    jax.block_until_ready(stack.params)
    train_s = time.perf_counter() - t0
    logging.info("%s: trained %d models in %.1fs", tag, len(todo), train_s)
    records = []
    for k, c in enumerate(todo):
        metrics = evaluate_model(stack.apply_fn, trainer.unstack(stack.params, k), d, config=config, seed=c.seed)
        records.append({"dataset": d.name, "group": d.group_name, "cell": c.name, "lam": c.lam,
                        "dp_target": c.epsilon, "epsilon": eps_for[c.epsilon] if c.epsilon is not None else None,
                        "noise_multiplier": noise[k], "reweigh": c.reweigh, "seed": c.seed, "metrics": metrics})
    # Stack wall time (train + measure), what the grid's cost sums; the id tells stacks apart.
    stack_info = {"stack_id": f"{tag}@{time.time():.0f}", "stack_size": len(todo), "stack_train_seconds": train_s,
                  "stack_seconds": time.perf_counter() - t0}
    for c, rec in zip(todo, records):
        rec.update(stack_info)
        if workdir is not None and jaxrun.is_main_process():
            jaxrun.atomic_write_json(_result_path(workdir, d.name, c), rec)
        writer.scalars(c.seed, {f"{d.name}/{c.name}/{m}": v for m, v in rec["metrics"].items() if np.isfinite(v)})
    return records


def run(config: ml_collections.ConfigDict, workdir: str | Path | None, *, mesh: Mesh,
        writer: jaxrun.MetricWriter | None = None) -> dict[str, Any]:
    """Returns {"records": per-model results, "report": tables, "seconds": wall time} after training
    and measuring every missing model of the grid and writing the report into `workdir`
    (`report.md`, `results.json`, PNGs; process 0). `workdir=None` writes nothing."""
    workdir = Path(workdir) if workdir is not None else None
    writer = writer or jaxrun.MetricWriter(None)
    t0 = time.perf_counter()
    records: list[dict] = []
    for name in config.datasets:
        dcfg = config.dataset
        d = data_lib.load(name, sensitive=dcfg.sensitive if name == "adult" else None, cache_dir=dcfg.cache_dir,
                          data_dir=dcfg.data_dir, max_train_rows=dcfg.max_train_rows,
                          max_test_rows=dcfg.max_test_rows)
        n = len(d.y_train)
        q = config.batch_size / n
        steps = config.num_epochs * trainer.steps_per_epoch(_settings(config, 0.0, True), n)
        noise_for = {float(e): dp.calibrate_noise(float(e), q, steps, config.dp_delta) for e in config.dp_epsilons}
        eps_for = {e: dp.epsilon(q, s, steps, config.dp_delta) for e, s in noise_for.items()}
        logging.info("%s: %d train rows, q=%.5f, %d DP steps; noise multipliers %s give ε %s at δ=%g", d.name, n, q,
                     steps, noise_for, eps_for, config.dp_delta)
        cells = cells_of(config, d.has_groups)
        for lam in config.lams:
            for use_dp in (False, True) if config.dp_epsilons else (False,):
                mine = [c for c in cells if c.lam == float(lam) and (c.epsilon is not None) == use_dp]
                todo = []
                for c in mine:
                    path = _result_path(workdir, d.name, c) if workdir is not None else None
                    if path is not None and path.exists():
                        records.append(json.loads(path.read_text()))
                    else:
                        todo.append(c)
                if todo:
                    records.extend(_train_and_measure(config, d, todo, use_dp, float(lam), noise_for, eps_for, mesh,
                                                      workdir, writer))
    tables = report.build_tables(records)
    seconds = time.perf_counter() - t0
    if workdir is not None and jaxrun.is_main_process():
        report.write_report(records, tables, workdir, seconds=seconds)
        writer.text("tensions/report", (workdir / "report.md").read_text())
    writer.flush()
    return {"records": records, "report": tables, "seconds": seconds}
