"""PEAR training: the run state a config builds, the loop that trains it with per-epoch
evaluation, orbax checkpoints that resume exactly, TensorBoard scalars and the final
six-explainer disagreement matrix.

`train_and_evaluate(config, workdir, mesh=..., writer=...)` is the whole run (the sweep over λ ×
seeds is `pear_jax.sweep`). The defaults live in `pear_jax.config`, the jitted steps and the
`TrainState` they advance in `pear_jax.steps`. The launchers build the mesh and the writer;
everything here works from Python without them.

Data parallelism: parameters and optimizer state are replicated, each global batch is split over
the mesh's `data` axis, and every process feeds its own contiguous rows of each global batch. The
batch shape never changes (the last partial batch of an epoch is dropped, unlike the reference,
which trains on it), so the train step compiles once; evaluation pads to a fixed batch with a
row mask, so it compiles once too.

The loop runs under `jax.transfer_guard("disallow")`: every host<->device copy in it is explicit
(`jaxrun.global_batch` for batches, `jax.device_put` for scalars, `jax.device_get` for metrics),
so a hidden per-step copy is an error, not a silent slowdown.
"""

from __future__ import annotations

import dataclasses
import json
import logging
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
from jaxrun.buckets import round_up
from jaxrun.workdir import check_config, config_differences
from pear_jax import agreement, explainers, models, report
from pear_jax import data as data_lib
from pear_jax.checkpoint import Checkpoints
from pear_jax.config import config_to_dict, flatten, validate
from pear_jax.steps import LossSettings, TrainState, explainer_kwargs, make_eval_step, make_train_step

# Steps dispatched ahead of the host. XLA's CPU client can deadlock a multi-device step's
# all-reduce when dozens of steps are queued and the device threads fall behind (seen with 8 host
# devices on 2 loaded cores); a few steps of lead keep accelerators busy just as well.
_MAX_INFLIGHT_STEPS = 8


@dataclasses.dataclass
class Run:
    """Everything a training run builds before its loop (handy for tests and benchmarks)."""

    config: ml_collections.ConfigDict
    data: data_lib.TabularData
    apply_fn: Callable
    state: TrainState
    tx: optax.GradientTransformation
    settings: LossSettings
    baseline: jax.Array  # the IG / Kernel SHAP baseline (d,), replicated
    eval_key: jax.Array  # typed key, replicated
    mesh: Mesh
    order: data_lib.BatchOrder

    @property
    def total_steps(self) -> int:
        return self.config.num_epochs * self.order.steps_per_epoch


def build(config: ml_collections.ConfigDict, mesh: Mesh, data: data_lib.TabularData | None = None) -> Run:
    """Returns a freshly initialised run: data, model and a replicated TrainState at step 0."""
    mesh = jaxrun.auto_axes(mesh)
    settings = LossSettings.from_config(config)
    if not -(2**31) <= config.seed < 2**31:
        raise ValueError(f"config.seed must fit in int32 (the checkpointed TrainState.seed), got {config.seed}")
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
    if config.ig_baseline == "train_mean":
        baseline = data.x_train.mean(axis=0)
    elif config.ig_baseline == "zeros":
        baseline = np.zeros((data.num_features,), np.float32)
    else:
        raise ValueError(f"config.ig_baseline must be 'train_mean' or 'zeros', got {config.ig_baseline!r}")
    model = models.make_model(config.model, data.num_features, data.num_classes, config.seed)
    apply_fn, params = models.split_model(model)
    tx = optax.adamw(config.optim.learning_rate, weight_decay=config.optim.weight_decay)
    order = data_lib.BatchOrder(len(data.y_train), config.batch_size, config.seed)
    rep = jaxrun.replicated(mesh)
    params = jax.device_put(params, rep)
    scalars = jax.device_put({"step": np.int32(0), "seed": np.int32(config.seed),
                              "steps_per_epoch": np.int32(order.steps_per_epoch)}, rep)
    state = TrainState(
        params=params,
        opt_state=jax.jit(tx.init, out_shardings=rep)(params),
        rng=jax.device_put(jax.random.key_data(jax.random.key(config.seed)), rep),
        **scalars,
    )
    # Key data, not a typed key: only plain arrays can be put on a mesh that spans processes.
    eval_key = jax.random.wrap_key_data(jax.device_put(jax.random.key_data(jax.random.key(config.seed + 1)), rep))
    return Run(config, data, apply_fn, state, tx, settings, jax.device_put(baseline, rep), eval_key, mesh, order)


def _local_rows(mesh: Mesh, x: np.ndarray, rows: np.ndarray) -> jax.Array:
    """Returns the global batch `x[rows]`, built from this process's share of `rows`."""
    return jaxrun.global_batch(mesh, x[rows[jaxrun.process_slice(len(rows))]])


def _fold_in(key: jax.Array, data: int) -> jax.Array:
    """Returns `fold_in(key, data)`, moving `data` to the key's devices explicitly."""
    return jax.random.fold_in(key, jax.device_put(np.uint32(data), key.sharding))


def evaluate(run: Run, eval_step: Callable, params, *, key: jax.Array) -> dict[str, float]:
    """Returns test-split metrics (accuracy, balanced accuracy, CE, consensus, agreements)."""
    cfg = run.config.eval
    x, y = run.data.x_test, run.data.y_test
    if cfg.max_rows:
        x, y = x[: cfg.max_rows], y[: cfg.max_rows]
    bsz, n = cfg.batch_size, len(y)
    # The split padded to whole batches, so the eval step sees one shape; padded rows repeat the
    # first row (explainers see ordinary inputs) and the mask drops them.
    pad = round_up(n, bsz) - n
    x = np.concatenate([x, np.repeat(x[:1], pad, axis=0)])
    y = np.concatenate([y, np.repeat(y[:1], pad)])
    mask = np.arange(n + pad) < n
    rows = np.arange(bsz)
    total: dict[str, Any] = {}
    for i in range((n + pad) // bsz):
        part = slice(i * bsz, (i + 1) * bsz)
        sums = eval_step(params, _local_rows(run.mesh, x[part], rows), _local_rows(run.mesh, y[part], rows),
                         _local_rows(run.mesh, mask[part], rows), _fold_in(key, i), run.baseline)
        total = sums if not total else jax.tree.map(jnp.add, total, sums)
    total = jax.device_get(total)
    count = float(total["rows"])
    class_rows = total["class_rows"]
    present = class_rows > 0
    out = {
        "accuracy": float(total["correct"]) / count,
        "balanced_accuracy": float(np.mean(total["class_correct"][present] / class_rows[present])),
        "ce": float(total["ce"]) / count,
        "consensus": float(total["consensus"]) / count,
    }
    out.update({k: float(v) / count for k, v in total.items() if k.startswith("agree/")})
    return out


def _host_copy(tree):
    """Returns a host (numpy) copy of replicated arrays, also when they span several processes."""
    return jax.device_get(jax.tree.map(lambda a: a.addressable_data(0), tree))


def final_disagreement(run: Run, params, *, rows: int, k: int, names: tuple[str, ...] = ()) -> dict:
    """Returns the six-explainer disagreement matrix on the first `rows` test rows (host copy).

    Runs on one device, outside the loop's transfer guard: the explainers' input checks read
    their concrete inputs back on purpose.
    """
    names = tuple(names) or tuple(explainers.ALL_EXPLAINERS)
    x, y, host, baseline = jax.device_put(
        (run.data.x_test[:rows], run.data.y_test[:rows], _host_copy(params), _host_copy(run.baseline)))
    key = jax.random.fold_in(jax.random.key(run.config.seed), 0x5EED)
    attributions = {}
    for i, name in enumerate(names):
        kw = explainer_kwargs(name, run.settings, baseline)
        attributions[name] = jax.device_get(
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
    """Restores the newest intact checkpoint into `run.state` and returns its step (0 when starting
    fresh); a damaged newer one is skipped with a warning naming its step."""
    restored = ckpts.restore_latest_intact(run.state) if ckpts is not None else None
    if restored is None:
        return 0
    step, state = restored
    seed, spe = (int(v) for v in jax.device_get((state.seed, state.steps_per_epoch)))
    if seed != run.config.seed:
        raise ValueError(
            f"{ckpts.directory}: checkpoint was written with seed {seed}, config.seed is "
            f"{run.config.seed}; use a fresh --workdir"
        )
    if spe != run.order.steps_per_epoch:
        raise ValueError(
            f"{ckpts.directory}: checkpoint {step} was trained with {spe} steps per epoch, this config "
            f"gives {run.order.steps_per_epoch} (batch size or dataset changed?); use a fresh --workdir"
        )
    run.state = state
    epoch, batch = run.order.position(step)
    logging.info("resumed from %s at step %d (epoch %d, batch %d)", ckpts.directory, step, epoch, batch)
    return step


# Fields that may change between a run and its resume without relabelling its results.
RESUMABLE_FIELDS = ("log_every_steps", "checkpoint.keep")


def finished_summary(config: ml_collections.ConfigDict, workdir: str | Path) -> dict | None:
    """Returns the recorded summary when `workdir` holds a finished run of `config` (its
    `final_metrics.json`, written last, and a recorded config equal to `config`), else None."""
    workdir = Path(workdir)
    done, recorded = workdir / "final_metrics.json", workdir / "config.json"
    if not done.is_file() or not recorded.is_file():
        return None
    if config_differences(json.loads(recorded.read_text()), config_to_dict(config), RESUMABLE_FIELDS):
        return None
    return json.loads(done.read_text())


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | Path | None,
    *,
    mesh: Mesh,
    writer: jaxrun.MetricWriter | None = None,
    make_writer: Callable[[int | None], jaxrun.MetricWriter] | None = None,
    data: data_lib.TabularData | None = None,
    allow_config_change: bool = False,
) -> dict:
    """Returns the run's summary after training `config` to the end, resuming from `workdir`.

    Writes (process 0 only) `config.json`, `history.json` (per-epoch eval), `final_metrics.json`
    and, unless `config.final.rows == 0`, `disagreement.json` + `disagreement.png`. With
    `workdir=None` nothing is written and nothing is checkpointed. The summary's "params" are the
    trained parameters (replicated device arrays).

    A workdir whose recorded config differs is refused (`jaxrun.workdir.ConfigMismatchError`
    naming the fields) unless `allow_config_change`. A finished run of the same config is not
    redone: its recorded summary comes back, with "params" from its last checkpoint (None when it
    kept none). `make_writer(purge_step)` builds the TensorBoard writer once the resume step is
    known (`purge_step` drops the events a killed run wrote past its checkpoint); `writer` is a
    ready-made one instead. A non-finite loss or parameters stop the run at once
    (`FloatingPointError` naming the step); no checkpoint holding them is written.
    """
    validate(config, needs_data=data is None)
    workdir = Path(workdir) if workdir is not None else None
    main = jaxrun.is_main_process()
    cfg_dict = config_to_dict(config)
    if workdir is not None:
        finished = finished_summary(config, workdir)  # before a changed config is recorded
        check_config(workdir, cfg_dict, allow_change=allow_config_change, ignore=RESUMABLE_FIELDS, write=main)
        if finished is not None:
            logging.info("%s holds this run, finished: nothing to do (final_metrics.json)", workdir)
            return {**finished, "params": _finished_params(config, workdir, mesh, data)}
    run = build(config, mesh, data)
    ckpts = None
    if workdir is not None and config.checkpoint.every_steps > 0:
        ckpts = Checkpoints(workdir / "checkpoints", every_steps=config.checkpoint.every_steps,
                            keep=config.checkpoint.keep)
    try:
        start = _restore_or_init(run, ckpts)
        if writer is None:
            # Events at or past purge_step are dropped: the resumed run rewrites steps after `start`.
            writer = make_writer(start + 1 if start else None) if make_writer else jaxrun.MetricWriter(None)
        writer.text("config", "```\n" + str(config) + "\n```")
        train_step = make_train_step(run.apply_fn, run.tx, run.settings, run.mesh)
        eval_step = make_eval_step(run.apply_fn, run.settings, run.mesh, config.eval.k, run.data.num_classes)
        with jax.transfer_guard("disallow"):
            summary = _train_loop(run, start, workdir, ckpts, writer, train_step, eval_step)
    finally:
        if ckpts is not None:
            ckpts.close()  # commits a pending async save, also when the loop raised

    if config.final.rows > 0 and main:
        matrix = final_disagreement(run, run.state.params, rows=config.final.rows, k=config.final.k,
                                    names=tuple(config.final.explainers))
        summary["disagreement"] = matrix
        if workdir is not None:
            jaxrun.atomic_write_json(workdir / "disagreement.json", matrix)
            report.disagreement_heatmap(matrix, workdir / "disagreement.png")
    final_eval = summary["final_eval"]
    if final_eval:
        writer.hparams(flatten(cfg_dict), {f"hparam/{k}": v for k, v in final_eval.items()
                                           if isinstance(v, float) and k != "epoch"})
    writer.flush()
    if workdir is not None and main:
        jaxrun.atomic_write_json(workdir / "final_metrics.json",
                                  {k: v for k, v in summary.items() if k != "train_losses"})
    return {**summary, "params": run.state.params}


def _finished_params(config: ml_collections.ConfigDict, workdir: Path, mesh: Mesh,
                     data: data_lib.TabularData | None):
    """Returns the parameters of a finished run's last checkpoint, or None when it kept none."""
    if config.checkpoint.every_steps <= 0 or not (workdir / "checkpoints").is_dir():
        return None
    run = build(config, mesh, data)
    ckpts = Checkpoints(workdir / "checkpoints", every_steps=config.checkpoint.every_steps, keep=config.checkpoint.keep)
    try:
        _restore_or_init(run, ckpts)
    finally:
        ckpts.close()
    return run.state.params


@jax.jit
def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def _save_if_finite(ckpts: Checkpoints, step: int, state: TrainState) -> None:
    """Saves checkpoint `step` unless the parameters hold NaN or infinity (then raises, so the
    newest checkpoint stays the last finite one)."""
    # addressable_data(0): the replicated flag may span processes (multi-host), one copy is ours.
    if not bool(jax.device_get(_all_finite(state.params).addressable_data(0))):
        raise FloatingPointError(
            f"parameters became non-finite by step {step} (NaN or infinity); stopped without saving "
            f"it, the newest checkpoint in {ckpts.directory} ({ckpts.latest_step()}) is the last finite "
            f"one. Lower config.optim.learning_rate or check the data")
    ckpts.save(step, state)


def _train_loop(run: Run, start: int, workdir: Path | None, ckpts: Checkpoints | None,
                writer: jaxrun.MetricWriter, train_step: Callable, eval_step: Callable) -> dict:
    """Trains `run` from step `start` to the end; returns the summary without the matrix."""
    config, mesh, main = run.config, run.mesh, jaxrun.is_main_process()
    total = run.total_steps
    spe = run.order.steps_per_epoch
    history_path = workdir / "history.json" if workdir is not None else None
    history = json.loads(history_path.read_text()) if history_path is not None and history_path.exists() else []
    history = [h for h in history if h["step"] <= start]
    logging.info("%s: %d train / %d test rows, %d features; %d steps (%d per epoch), starting at %d",
                 run.data.name, len(run.data.y_train), len(run.data.y_test), run.data.num_features, total, spe, start)

    pending: list[tuple[int, dict]] = []
    losses: list[float] = []

    def flush_pending():
        for (s, _), m in zip(pending, jax.device_get([m for _, m in pending])):
            vals = {k: float(v) for k, v in m.items()}
            if not np.isfinite(vals["loss"]):
                pending.clear()
                last = ckpts.latest_step() if ckpts is not None else None
                raise FloatingPointError(
                    f"loss is {vals['loss']} at step {s}: training stopped there; "
                    + (f"the last finite checkpoint is step {last} in {ckpts.directory}. " if last is not None else "")
                    + "Lower config.optim.learning_rate or check the data")
            losses.append(vals["loss"])
            writer.scalars(s, {f"train/{k}": v for k, v in vals.items()})
        pending.clear()

    t_start = time.perf_counter()
    with jaxrun.log_progress("train", total - start, unit="steps") as advance:
        for step in range(start, total):
            rows = run.order.rows(step)
            x = _local_rows(mesh, run.data.x_train, rows)
            y = _local_rows(mesh, run.data.y_train, rows)
            run.state, metrics = train_step(run.state, x, y, run.baseline)
            done = step + 1
            pending.append((done, metrics))
            advance(1)
            if done % config.log_every_steps == 0 or done == total:
                flush_pending()  # the host sync that logs
            elif len(pending) > _MAX_INFLIGHT_STEPS:
                jax.block_until_ready(pending[-_MAX_INFLIGHT_STEPS][1])
            if ckpts is not None and ckpts.should_save(done):
                flush_pending()  # a checkpoint follows only finite losses
                _save_if_finite(ckpts, done, run.state)
            every = config.eval.every_epochs
            if (every > 0 and done % (spe * every) == 0) or (done == total and every >= 0):
                flush_pending()
                ev = evaluate(run, eval_step, run.state.params, key=_fold_in(run.eval_key, done))
                epoch = done / spe
                history.append({"step": done, "epoch": epoch, **ev})
                writer.scalars(done, {f"eval/{k}": v for k, v in ev.items()})
                logging.info("epoch %.2f step %d: %s", epoch, done,
                             ", ".join(f"{k}={v:.4f}" for k, v in ev.items()))
                if history_path is not None and main:
                    jaxrun.atomic_write_json(history_path, history)
    flush_pending()
    train_seconds = time.perf_counter() - t_start
    if ckpts is not None:
        _save_if_finite(ckpts, total, run.state)
    return {
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
