"""PEAR training: one jitted, sharded train step with the full PEAR loss, per-epoch evaluation,
orbax checkpoints that resume exactly, TensorBoard scalars and the final six-explainer
disagreement matrix.

`train_and_evaluate(config, workdir, mesh=..., writer=...)` is the whole run; `sweep(...)` runs it
for a grid of λ × seeds and writes the trade-off report. The launchers build the mesh and the
writer; everything here works from Python without them.

Data parallelism: parameters and optimizer state are replicated, each global batch is split over
the mesh's `data` axis, and every process feeds its own contiguous rows of each global batch. The
batch shape never changes (the last partial batch of an epoch is dropped, unlike the reference,
which trains on it), so the train step compiles once; evaluation pads to a fixed batch with a
row mask, so it compiles once too.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

import jaxrun
from pear_jax import data as data_lib
from pear_jax import models
from pear_jax.checkpoint import Checkpoints
from pear_jax.config import base_config, config_to_dict, flatten  # noqa: F401 (base_config: tests)

# Steps dispatched ahead of the host. XLA's CPU client can deadlock a multi-device step's
# all-reduce when dozens of steps are queued and the device threads fall behind (seen with 8 host
# devices on 2 loaded cores); a few steps of lead keep accelerators busy just as well.
_MAX_INFLIGHT_STEPS = 8


# ----------------------------------------------------------------------------- steps


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """The static settings of the PEAR loss (hashable, so jitted steps specialise on them)."""

    lam: float
    mu: float
    explainer_a: str
    explainer_b: str
    strength: float
    ig_steps: int

    @classmethod
    def from_config(cls, c) -> "LossSettings":
        if not 0.0 <= c.lam <= 1.0:
            raise ValueError(f"config.lam must be in [0, 1], got {c.lam}")
        if not 0.0 <= c.mu <= 1.0:
            raise ValueError(f"config.mu must be in [0, 1], got {c.mu}")
        return cls(float(c.lam), float(c.mu), c.explainer_a, c.explainer_b, float(c.strength), int(c.ig_steps))


def explainer_kwargs(name: str, settings: LossSettings, baseline: jax.Array | None) -> dict:
    """Returns the keyword arguments the trainer passes to explainer `name`."""
    if name == "integrated_gradients":
        return {"n_steps": settings.ig_steps, "baseline": baseline}
    if name == "kernel_shap":
        return {"baseline": baseline}
    return {}


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """Returns the per-row softmax cross-entropy of integer labels `y`."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


def make_loss_fn(apply_fn: Callable, settings: LossSettings) -> Callable:
    """Returns `loss_fn(params, x, y, key, baseline) -> (loss, {"ce", "consensus"})`: the kernel
    PEAR loss (`pear_jax.loss.pear_loss`) with this run's settings; at lam = 0 the kernel skips
    the explainers and its consensus is NaN ("not computed").

    The IG baseline is an argument, not a closed-over constant: the kernels' value checks skip
    traced arrays, and the compiled step does not embed the baseline.
    """
    from pear_jax import loss as loss_lib

    def loss_fn(params, x, y, key, baseline):
        kw_a = explainer_kwargs(settings.explainer_a, settings, baseline)
        kw_b = explainer_kwargs(settings.explainer_b, settings, baseline)
        return loss_lib.pear_loss(
            apply_fn, params, x, y, key, lam=settings.lam, mu=settings.mu,
            explainer_a=settings.explainer_a, explainer_b=settings.explainer_b,
            explainer_a_kwargs=kw_a, explainer_b_kwargs=kw_b, strength=settings.strength,
        )

    return loss_fn


def make_train_step(apply_fn: Callable, tx: optax.GradientTransformation, settings: LossSettings,
                    mesh: Mesh) -> Callable:
    """Returns the jitted `step(params, opt_state, x, y, rng, step, baseline) -> (params, opt_state,
    metrics)`.

    Parameters/optimizer state are replicated and donated; x (B, d) and y (B,) are sharded over
    the `data` axis; `rng` is the run's base key data and the step's key is `fold_in(rng, step)`,
    so the randomness of a step does not depend on how the run got there (resume-exact).
    """
    loss_fn = make_loss_fn(apply_fn, settings)

    def step_fn(params, opt_state, x, y, rng, step, baseline):
        key = jax.random.fold_in(jax.random.wrap_key_data(rng), step)
        (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y, key, baseline)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        metrics = {"loss": loss, **aux, "grad_norm": optax.global_norm(grads)}
        if settings.lam == 0.0:
            metrics.pop("consensus", None)  # not computed (NaN) at lam = 0
        return params, opt_state, metrics

    mesh = jaxrun.auto_axes(mesh)
    rep = jaxrun.replicated(mesh)
    return jax.jit(
        step_fn,
        in_shardings=(rep, rep, jaxrun.batch_sharding(mesh, 2), jaxrun.batch_sharding(mesh, 1), rep, rep, rep),
        out_shardings=(rep, rep, rep),
        donate_argnums=(0, 1),
    )


def make_eval_step(apply_fn: Callable, settings: LossSettings, mesh: Mesh, k: int,
                   num_classes: int) -> Callable:
    """Returns the jitted `eval(params, x, y, mask, key, baseline) -> sums` over one padded batch.

    Sums (not means) so batches add up: rows, correct, per-class rows and correct, CE, the
    consensus loss of each row, and each grad-vs-IG agreement metric (masked rows count zero).
    """
    from pear_jax import explainers
    from pear_jax import loss as loss_lib

    def eval_fn(params, x, y, mask, key, baseline):
        kw_a = explainer_kwargs(settings.explainer_a, settings, baseline)
        kw_b = explainer_kwargs(settings.explainer_b, settings, baseline)
        m = mask.astype(jnp.float32)
        logits = apply_fn(params, x)
        pred = jnp.argmax(logits, axis=-1)
        onehot = jax.nn.one_hot(y, num_classes) * m[:, None]
        correct = (pred == y).astype(jnp.float32) * m
        ka, kb = jax.random.split(key)
        a = explainers.explain(settings.explainer_a, apply_fn, params, x, y, key=ka, **kw_a)
        b = explainers.explain(settings.explainer_b, apply_fn, params, x, y, key=kb, **kw_b)
        # Per-row consensus: the kernel's batch mean applied to one row at a time.
        per_row_consensus = jax.vmap(
            lambda ra, rb: loss_lib.consensus_loss(ra[None], rb[None], mu=settings.mu, strength=settings.strength)
        )(a, b)
        sums = {
            "rows": jnp.sum(m),
            "correct": jnp.sum(correct),
            "class_rows": jnp.sum(onehot, axis=0),
            "class_correct": jnp.sum(onehot * correct[:, None], axis=0),
            "ce": jnp.sum(jnp.where(mask, cross_entropy(logits, y), 0.0)),
            "consensus": jnp.sum(jnp.where(mask, per_row_consensus, 0.0)),
        }
        for name, fn in agreement_metrics(k).items():
            sums[f"agree/{name}"] = jnp.sum(jnp.where(mask, fn(a, b), 0.0))
        return sums

    mesh = jaxrun.auto_axes(mesh)
    rep = jaxrun.replicated(mesh)
    bs1 = jaxrun.batch_sharding(mesh, 1)
    return jax.jit(eval_fn, in_shardings=(rep, jaxrun.batch_sharding(mesh, 2), bs1, bs1, rep, rep),
                   out_shardings=rep)


def agreement_metrics(k: int) -> dict[str, Callable[[jax.Array, jax.Array], jax.Array]]:
    """Returns the per-row agreement metrics evaluated every epoch (all of `agreement.METRICS`)."""
    from pear_jax import agreement

    return {name: functools.partial(getattr(agreement, name), k=k) for name in agreement.METRICS}


# ----------------------------------------------------------------------------- the run


@dataclasses.dataclass
class Run:
    """Everything a training run builds before its loop (handy for tests and benchmarks)."""

    config: ml_collections.ConfigDict
    data: data_lib.TabularData
    apply_fn: Callable
    params: Any
    opt_state: Any
    tx: optax.GradientTransformation
    settings: LossSettings
    baseline: jax.Array | None
    rng: jax.Array
    mesh: Mesh
    order: data_lib.BatchOrder

    @property
    def total_steps(self) -> int:
        return self.config.num_epochs * self.order.steps_per_epoch


def build(config: ml_collections.ConfigDict, mesh: Mesh, data: data_lib.TabularData | None = None) -> Run:
    """Returns a freshly initialised run: data, model, replicated params and optimizer state."""
    mesh = jaxrun.auto_axes(mesh)
    settings = LossSettings.from_config(config)
    data = data if data is not None else data_lib.load_from_config(config.dataset)
    for field in ("eval", "final"):
        k = config[field].k
        if not 1 <= k <= data.num_features:
            raise ValueError(f"config.{field}.k={k} must be in [1, {data.num_features}] (the number of features)")
    n_data = mesh.shape[jaxrun.DATA_AXIS]
    if config.batch_size % n_data:
        raise ValueError(f"config.batch_size={config.batch_size} must be divisible by the mesh data axis ({n_data})")
    if config.eval.batch_size % n_data:
        raise ValueError(f"config.eval.batch_size={config.eval.batch_size} must be divisible by the mesh data axis ({n_data})")
    model = models.make_model(config.model, data.num_features, data.num_classes, config.seed)
    apply_fn, params = models.split_model(model)
    tx = optax.adamw(config.optim.learning_rate, weight_decay=config.optim.weight_decay)
    rep = jaxrun.replicated(mesh)
    params = jax.device_put(params, rep)
    opt_state = jax.jit(tx.init, out_shardings=rep)(params)
    if config.ig_baseline == "train_mean":
        baseline = jax.device_put(data.x_train.mean(axis=0), rep)
    elif config.ig_baseline == "zeros":
        baseline = jax.device_put(np.zeros((data.num_features,), np.float32), rep)
    else:
        raise ValueError(f"config.ig_baseline must be 'train_mean' or 'zeros', got {config.ig_baseline!r}")
    rng = jax.device_put(jax.random.key_data(jax.random.key(config.seed)), rep)
    order = data_lib.BatchOrder(len(data.y_train), config.batch_size, config.seed)
    return Run(config, data, apply_fn, params, opt_state, tx, settings, baseline, rng, mesh, order)


def _local_rows(mesh: Mesh, x: np.ndarray, rows: np.ndarray):
    return jaxrun.global_batch(mesh, x[rows[jaxrun.process_slice(len(rows))]])


def evaluate(run: Run, eval_step: Callable, params, *, key: jax.Array) -> dict[str, float]:
    """Returns test-split metrics (accuracy, balanced accuracy, CE, consensus, agreements)."""
    cfg = run.config.eval
    x, y = run.data.x_test, run.data.y_test
    if cfg.max_rows:
        x, y = x[: cfg.max_rows], y[: cfg.max_rows]
    bsz = cfg.batch_size
    n_batches = math.ceil(len(y) / bsz)
    total: dict[str, Any] = {}
    for i in range(n_batches):
        xb, yb = x[i * bsz : (i + 1) * bsz], y[i * bsz : (i + 1) * bsz]
        mask = np.zeros(bsz, bool)
        mask[: len(yb)] = True
        pad = bsz - len(yb)
        # Padded rows repeat the first row so explainers see ordinary inputs; the mask drops them.
        xb = np.concatenate([xb, np.repeat(xb[:1], pad, axis=0)]) if pad else xb
        yb = np.concatenate([yb, np.repeat(yb[:1], pad)]) if pad else yb
        rows = np.arange(bsz)
        sums = eval_step(run.params if params is None else params,
                         _local_rows(run.mesh, xb, rows), _local_rows(run.mesh, yb, rows),
                         _local_rows(run.mesh, mask, rows), jax.random.fold_in(key, i), run.baseline)
        total = sums if not total else jax.tree.map(jnp.add, total, sums)
    total = jax.tree.map(np.asarray, total)
    n = float(total["rows"])
    class_rows = total["class_rows"]
    present = class_rows > 0
    out = {
        "accuracy": float(total["correct"]) / n,
        "balanced_accuracy": float(np.mean(total["class_correct"][present] / class_rows[present])),
        "ce": float(total["ce"]) / n,
        "consensus": float(total["consensus"]) / n,
    }
    out.update({k: float(v) / n for k, v in total.items() if k.startswith("agree/")})
    return out


def _host_params(params):
    """Returns a host (numpy) copy of replicated params, also when they span several processes."""
    return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), params)


def final_disagreement(run: Run, params, *, rows: int, k: int, names: tuple[str, ...] = ()) -> dict:
    """Returns the six-explainer disagreement matrix on the first `rows` test rows (host copy)."""
    from pear_jax import agreement, explainers

    names = tuple(names) or tuple(explainers.ALL_EXPLAINERS)
    x = jnp.asarray(run.data.x_test[:rows])
    y = jnp.asarray(run.data.y_test[:rows])
    host = jax.tree.map(jnp.asarray, _host_params(params))
    baseline = jnp.asarray(_host_params(run.baseline))
    key = jax.random.fold_in(jax.random.key(run.config.seed), 0x5EED)
    attributions = {}
    for i, name in enumerate(names):
        kw = explainer_kwargs(name, run.settings, baseline)
        attributions[name] = np.asarray(
            explainers.explain(name, run.apply_fn, host, x, y, key=jax.random.fold_in(key, i), **kw)
        )
    result = agreement.disagreement_matrix(attributions, k)
    return {
        "explainers": list(result["explainers"]),
        "k": k,
        "rows": int(x.shape[0]),
        "metrics": {m: np.asarray(v["mean"]).tolist() for m, v in result["metrics"].items()},
    }


def _restore_or_init(run: Run, ckpts: Checkpoints | None) -> int:
    """Restores the newest checkpoint into `run` and returns its step (0 when starting fresh)."""
    if ckpts is None or ckpts.latest_step() is None:
        return 0
    step = ckpts.latest_step()
    target = {
        "params": run.params, "opt_state": run.opt_state, "rng": run.rng,
        "step": np.int64(0), "epoch": np.int64(0), "batch_in_epoch": np.int64(0), "seed": np.int64(0),
    }
    state = ckpts.restore(step, target)
    if int(state["seed"]) != run.config.seed:
        raise ValueError(
            f"{ckpts.directory}: checkpoint was written with seed {int(state['seed'])}, config.seed is "
            f"{run.config.seed}; use a fresh --workdir"
        )
    epoch, batch = run.order.position(step)
    if (int(state["epoch"]), int(state["batch_in_epoch"])) != (epoch, batch):
        raise ValueError(
            f"{ckpts.directory}: checkpoint {step} is at epoch {int(state['epoch'])} batch "
            f"{int(state['batch_in_epoch'])}, but this config puts step {step} at epoch {epoch} batch {batch} "
            f"(batch size or dataset changed?); use a fresh --workdir"
        )
    run.params, run.opt_state, run.rng = state["params"], state["opt_state"], state["rng"]
    logging.info("resumed from %s at step %d (epoch %d, batch %d)", ckpts.directory, step, epoch, batch)
    return step


def _save(ckpts: Checkpoints, run: Run, step: int) -> None:
    epoch, batch = run.order.position(step)
    ckpts.save(step, {
        "params": run.params, "opt_state": run.opt_state, "rng": run.rng, "step": np.int64(step),
        "epoch": np.int64(epoch), "batch_in_epoch": np.int64(batch), "seed": np.int64(run.config.seed),
    })


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | Path | None,
    *,
    mesh: Mesh,
    writer: jaxrun.MetricWriter | None = None,
    data: data_lib.TabularData | None = None,
) -> dict:
    """Returns the run's summary after training `config` to the end, resuming from `workdir`.

    Writes (process 0 only) `config.json`, `history.json` (per-epoch eval), `final_metrics.json`
    and, unless `config.final.rows == 0`, `disagreement.json` + `disagreement.png`. With
    `workdir=None` nothing is written and nothing is checkpointed.
    """
    workdir = Path(workdir) if workdir is not None else None
    writer = writer or jaxrun.MetricWriter(None)
    run = build(config, mesh, data)
    ckpts = None
    if workdir is not None and config.checkpoint.every_steps > 0:
        ckpts = Checkpoints(workdir / "checkpoints", every_steps=config.checkpoint.every_steps,
                            keep=config.checkpoint.keep)
    main = jaxrun.is_main_process()
    cfg_dict = config_to_dict(config)
    if workdir is not None and main:
        jaxrun.atomic_write_json(workdir / "config.json", cfg_dict)
    writer.text("config", "```\n" + str(config) + "\n```")

    mesh = run.mesh
    train_step = make_train_step(run.apply_fn, run.tx, run.settings, mesh)
    eval_step = make_eval_step(run.apply_fn, run.settings, mesh, config.eval.k, run.data.num_classes)
    try:
        return _train_loop(run, config, workdir, ckpts, writer, train_step, eval_step, cfg_dict)
    finally:
        if ckpts is not None:
            ckpts.close()  # commits a pending async save, also when the loop raised


def _train_loop(run: Run, config, workdir, ckpts, writer, train_step, eval_step, cfg_dict) -> dict:
    mesh, main = run.mesh, jaxrun.is_main_process()
    start = _restore_or_init(run, ckpts)
    total = run.total_steps
    spe = run.order.steps_per_epoch
    history_path = workdir / "history.json" if workdir is not None else None
    history = json.loads(history_path.read_text()) if history_path is not None and history_path.exists() else []
    history = [h for h in history if h["step"] <= start]
    eval_key = jax.random.key(config.seed + 1)
    logging.info("%s: %d train / %d test rows, %d features; %d steps (%d per epoch), starting at %d",
                 run.data.name, len(run.data.y_train), len(run.data.y_test), run.data.num_features, total, spe, start)

    pending: list[tuple[int, dict]] = []
    losses: list[float] = []

    def flush_pending():
        for s, m in pending:
            vals = {k: float(v) for k, v in m.items()}
            losses.append(vals["loss"])
            writer.scalars(s, {f"train/{k}": v for k, v in vals.items()})
        pending.clear()

    t_start = time.perf_counter()
    with jaxrun.log_progress("train", total - start, unit="steps") as advance:
        for step in range(start, total):
            rows = run.order.rows(step)
            x = _local_rows(mesh, run.data.x_train, rows)
            y = _local_rows(mesh, run.data.y_train, rows)
            run.params, run.opt_state, metrics = train_step(run.params, run.opt_state, x, y, run.rng, np.int32(step),
                                                             run.baseline)
            done = step + 1
            pending.append((done, metrics))
            advance(1)
            if done % config.log_every_steps == 0 or done == total:
                flush_pending()  # the host sync that logs
            elif len(pending) > _MAX_INFLIGHT_STEPS:
                jax.block_until_ready(pending[-_MAX_INFLIGHT_STEPS][1])
            if ckpts is not None and ckpts.should_save(done):
                _save(ckpts, run, done)
            every = config.eval.every_epochs
            if (every > 0 and done % (spe * every) == 0) or (done == total and every >= 0):
                flush_pending()
                ev = evaluate(run, eval_step, run.params, key=jax.random.fold_in(eval_key, done))
                epoch = done / spe
                ev_record = {"step": done, "epoch": epoch, **ev}
                history.append(ev_record)
                writer.scalars(done, {f"eval/{k}": v for k, v in ev.items()})
                logging.info("epoch %.2f step %d: %s", epoch, done,
                             ", ".join(f"{k}={v:.4f}" for k, v in ev.items()))
                if history_path is not None and main:
                    jaxrun.atomic_write_json(history_path, history)
    flush_pending()
    train_seconds = time.perf_counter() - t_start
    if ckpts is not None:
        _save(ckpts, run, total)

    summary = {
        "dataset": run.data.name,
        "lam": config.lam,
        "seed": config.seed,
        "steps": total,
        "resumed_from": start,
        "train_seconds": train_seconds,
        "steps_per_second": (total - start) / train_seconds if train_seconds > 0 and total > start else None,
        "final_eval": history[-1] if history else None,
        "train_losses": losses,  # this invocation's steps only
    }
    if config.final.rows > 0 and main:
        matrix = final_disagreement(run, run.params, rows=config.final.rows, k=config.final.k,
                                    names=tuple(config.final.explainers))
        summary["disagreement"] = matrix
        if workdir is not None:
            from pear_jax import report

            jaxrun.atomic_write_json(workdir / "disagreement.json", matrix)
            report.disagreement_heatmap(matrix, workdir / "disagreement.png")
    if history:
        writer.hparams(flatten(cfg_dict), {f"hparam/{k}": v for k, v in history[-1].items()
                                            if isinstance(v, float) and k != "epoch"})
    writer.flush()
    if workdir is not None and main:
        jaxrun.atomic_write_json(workdir / "final_metrics.json",
                                  {k: v for k, v in summary.items() if k != "train_losses"})
    return {**summary, "params": run.params}


# ----------------------------------------------------------------------------- λ sweep


def cell_dir(workdir: str | Path, lam: float, seed: int) -> Path:
    """Returns the run directory of one sweep cell."""
    return Path(workdir) / f"lam_{lam:g}" / f"seed_{seed}"


def sweep(
    config: ml_collections.ConfigDict,
    workdir: str | Path,
    *,
    lams: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
    seeds: tuple[int, ...] = (0, 1, 2),
    mesh: Mesh,
    make_writer: Callable[[Path], jaxrun.MetricWriter] | None = None,
) -> list[dict]:
    """Returns the per-λ aggregate rows after training every (λ, seed) cell and writing the report.

    Cells live in `workdir/lam_<λ>/seed_<s>`; a cell whose `final_metrics.json` exists is skipped,
    and an interrupted cell resumes from its checkpoints, so rerunning the sweep finishes it.
    Writes `tradeoff.csv`, `tradeoff.png` and `report.md` into `workdir` (process 0).
    """
    from pear_jax import report

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
