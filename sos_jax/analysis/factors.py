"""SOS-Bench factor scores: task metrics -> benchmarks -> factors (WK, IF, SAFE) -> overall.

Which task metrics form which benchmark, and which factor each feeds, is not declared here: it is
read from the suite (`sos_jax.tasks.suite`) through a task registry (`Registry.benchmarks()`), so
a task family added to the suite is scored without touching this module. Factors are named as in
`sos_jax.tasks.FACTORS`; `FactorScores.factors` holds their printed labels (`FACTOR_LABELS`).

Formulas (per model m; every mean unweighted unless stated):

* benchmark b = mean of its subtask metrics (BBQ and WMDP: size-weighted like lm-eval's group
  score, so they equal the `bbq/acc` and `wmdp/acc` columns); WMDP enters as 1 - acc;
  IFEval = mean of its four metrics (prompt/instruction level x strict/loose: the SOS-Bench
  table's "average of custom metrics").
* normalisation across models, per benchmark: `raw` (unchanged, 0-1), `zscore`
  ((v - mean_m v) / std_m v, population std; a constant benchmark gives 0) or `rank`
  ((average rank - 1) / (n_models - 1), ties share their mean rank).
* factor f = mean of its benchmarks; overall = mean of the factors.

Confidence intervals (95% by default):

* per-question logs for a task (every model, same questions): bootstrap over questions, the same
  resampled questions for every model (paired), percentile interval (`bootstrap.py`);
* otherwise stderr columns. For `raw`, the normal approximation propagated through the means:
  se_b^2 = sum_i w_i^2 se_i^2 over independent subtasks; IFEval's metrics share the prompts, so
  se_b = sum_i w_i se_i (perfect correlation, an upper bound; its two instruction-level stderrs
  are `N/A` in lm-eval and take the mean of the available ones); se_f^2 = sum_b se_b^2 / K_f^2;
  se_overall^2 = sum_f se_f^2 / F^2; CI = value +- z_{0.975} se. For `zscore`/`rank` (not linear)
  the same normal model is simulated (task metric ~ N(value, se^2)) and the CI is percentile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.analysis.bootstrap import (
    pack_question_data,
    percentile_interval,
    question_means,
    resample_slots,
    round_chunk,
)
from sos_jax.analysis.ingest import ModelResults
from sos_jax.analysis.names import NameMap
from sos_jax.tasks.registry import Registry, default_registry
from sos_jax.tasks.suite import Benchmark
from sos_jax.tasks.task import FACTOR_LABELS, FACTORS

NORMALIZATIONS = ("raw", "zscore", "rank")


def sos_benchmarks(registry: Registry | None = None) -> list[Benchmark]:
    """Returns the task -> benchmark -> factor table of `registry`'s suite (default: SOS-Bench).

    The table comes from `sos_jax.tasks.suite` through the registry: each benchmark's factor and
    inversion are its tasks' `factor` and `invert_in_factor`.
    """
    return (registry or default_registry()).benchmarks()


def _normalized_weights(b: Benchmark) -> np.ndarray:
    """Returns the subtask weights of `b` scaled to sum to 1 (equal when none are given)."""
    w = np.ones(len(b.metrics)) if b.weights is None else np.asarray(b.weights, float)
    if len(w) != len(b.metrics) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"benchmark {b.name!r}: weights must be {len(b.metrics)} non-negative numbers")
    return w / w.sum()


@dataclass
class FactorInputs:
    """Task metrics of every model arranged for the factor kernels.

    Column p of `x`/`se` is the task metric `columns[p]`, feeding benchmark `col_bench[p]` with
    signed weight `col_weight[p]`; benchmark b adds `bench_offset[b]` (1 for inverted ones).
    """

    models: list[str]
    benchmarks: list[Benchmark]
    columns: list[str]
    x: np.ndarray  # [M, P], NaN where a model lacks the metric
    se: np.ndarray  # [M, P], NaN where unknown
    col_bench: np.ndarray  # [P] int
    col_weight: np.ndarray  # [P]
    bench_offset: np.ndarray  # [Bm]
    bench_factor: np.ndarray  # [Bm] int, index into `factors`
    factors: list[str]
    notes: list[str] = field(default_factory=list)


def merge_results(results: Sequence[ModelResults], name_map: NameMap | None = None) -> dict[str, ModelResults]:
    """Returns one `ModelResults` per canonical model, merging sources; conflicting values are errors."""
    name_map = name_map or NameMap()
    merged: dict[str, ModelResults] = {}
    for r in results:
        name = name_map.canonical(r.model)
        if name not in merged:
            merged[name] = ModelResults(name, r.source, dict(r.scores), dict(r.stderrs), dict(r.samples))
            continue
        m = merged[name]
        for k, v in r.scores.items():
            if k in m.scores and not math.isclose(m.scores[k], v, rel_tol=1e-9, abs_tol=1e-12):
                raise ValueError(
                    f"model {name!r}: metric {k!r} is {m.scores[k]} in {m.source} but {v} in {r.source}"
                )
            m.scores[k] = v
            m.stderrs[k] = r.stderrs.get(k, math.nan)
        m.samples.update(r.samples)
        m.source = f"{m.source},{r.source}"
    return merged


def resolve_inputs(results: Sequence[ModelResults] | dict[str, ModelResults],
                   benchmarks: Sequence[Benchmark] | None = None,
                   name_map: NameMap | None = None, registry: Registry | None = None) -> FactorInputs:
    """Returns the task-metric matrix for `benchmarks`, choosing subtasks or group columns.

    A benchmark uses its subtasks when as many models have all of them as have its group column,
    else the group column; benchmarks no model has are dropped (and noted); a model missing a
    used metric gets NaN for that benchmark and everything above it. `benchmarks` defaults to
    `sos_benchmarks(registry)`.
    """
    merged = results if isinstance(results, dict) else merge_results(results, name_map)
    if not merged:
        raise ValueError("no model results to score")
    benchmarks = list(benchmarks if benchmarks is not None else sos_benchmarks(registry))
    models = sorted(merged)
    notes: list[str] = []
    used: list[tuple[Benchmark, tuple[str, ...], np.ndarray]] = []
    for b in benchmarks:
        if b.factor not in FACTORS:
            raise ValueError(f"benchmark {b.name!r}: factor {b.factor!r} is not one of {FACTORS}")
        w = _normalized_weights(b)
        candidates = [(b.metrics, w)]
        if b.group_metric:
            candidates.append(((b.group_metric,), np.ones(1)))
        counts = [sum(all(k in merged[m].scores for k in cols) for m in models) for cols, _ in candidates]
        best = int(np.argmax(counts))
        if counts[best] == 0:
            notes.append(f"benchmark {b.name} dropped: no model has {', '.join(b.metrics[:2])}{'...' if len(b.metrics) > 2 else ''}")
            continue
        cols, weights = candidates[best]
        if best == 1:
            notes.append(f"benchmark {b.name}: subtasks absent, used group column {b.group_metric}")
        missing = [m for m in models if not all(k in merged[m].scores for k in cols)]
        if missing:
            notes.append(f"benchmark {b.name}: missing for {len(missing)} model(s): {', '.join(missing)}")
        used.append((b, cols, weights))
    if not used:
        raise ValueError("none of the benchmarks' task metrics appear in the results; check the task names")
    factors = [f for f in FACTORS if any(b.factor == f for b, _, _ in used)]
    for f in FACTORS:
        if f not in factors:
            notes.append(f"factor {FACTOR_LABELS[f]} has no benchmark in these results and is left out of the "
                         "overall score")
    columns, col_bench, col_weight, offsets, bench_factor = [], [], [], [], []
    for bi, (b, cols, weights) in enumerate(used):
        sign = -1.0 if b.invert else 1.0
        columns += list(cols)
        col_bench += [bi] * len(cols)
        col_weight += list(sign * weights)
        offsets.append(1.0 if b.invert else 0.0)
        bench_factor.append(factors.index(b.factor))
    x = np.full((len(models), len(columns)), np.nan)
    se = np.full_like(x, np.nan)
    for i, m in enumerate(models):
        r = merged[m]
        for p, c in enumerate(columns):
            if c in r.scores:
                x[i, p] = r.scores[c]
                se[i, p] = r.stderrs.get(c, math.nan)
    return FactorInputs(models, [b for b, _, _ in used], columns, x, se, np.asarray(col_bench),
                        np.asarray(col_weight), np.asarray(offsets), np.asarray(bench_factor), factors, notes)


# ----------------------------------------------------------------------------- kernels (JAX)


def benchmark_values(x: jax.Array, col_bench: jax.Array, col_weight: jax.Array, bench_offset: jax.Array) -> jax.Array:
    """Returns benchmark scores [..., M, Bm] from task metrics [..., M, P] (NaN stays in its benchmark)."""
    n_bench = bench_offset.shape[0]
    contrib = x * col_weight
    moved = jnp.moveaxis(contrib, -1, 0)  # [P, ..., M]
    summed = jax.ops.segment_sum(moved, col_bench, num_segments=n_bench)  # [Bm, ..., M]
    return jnp.moveaxis(summed, 0, -1) + bench_offset


def average_ranks(v: jax.Array, valid: jax.Array) -> jax.Array:
    """Returns 1-based average ranks of `v` along the last axis among `valid` entries (ties averaged)."""
    a = v[..., :, None]
    b = v[..., None, :]
    vb = valid[..., None, :]
    less = jnp.sum((b < a) & vb, axis=-1)
    equal = jnp.sum((b == a) & vb, axis=-1)
    return less + (equal + 1) / 2.0


def _zscore(v: jax.Array) -> jax.Array:
    valid = ~jnp.isnan(v)
    mean = jnp.nanmean(v, axis=-2, keepdims=True)
    std = jnp.sqrt(jnp.nanmean((v - mean) ** 2, axis=-2, keepdims=True))
    # A constant benchmark says nothing about differences between models: 0 for all.
    z = jnp.where(std > 0, (v - mean) / jnp.where(std > 0, std, 1.0), 0.0)
    return jnp.where(valid, z, jnp.nan)


def _rank01(v: jax.Array) -> jax.Array:
    valid = ~jnp.isnan(v)
    n = jnp.sum(valid, axis=-2, keepdims=True)
    vt = jnp.swapaxes(jnp.where(valid, v, 0.0), -1, -2)  # [..., Bm, M]
    r = jnp.swapaxes(average_ranks(vt, jnp.swapaxes(valid, -1, -2)), -1, -2)
    scaled = (r - 1.0) / jnp.maximum(n - 1, 1)
    return jnp.where(valid, scaled, jnp.nan).astype(v.dtype)


def normalize(v: jax.Array, method: str | int | jax.Array) -> jax.Array:
    """Returns benchmark scores [..., M, Bm] normalised across models (axis -2), NaN kept.

    `method` is a name from NORMALIZATIONS or its index (may be traced: one compile serves all).
    """
    if isinstance(method, str):
        if method not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
        method = NORMALIZATIONS.index(method)
    return jax.lax.switch(method, [lambda a: a, _zscore, _rank01], v)


def factor_values(v: jax.Array, bench_factor: jax.Array, n_factors: int) -> tuple[jax.Array, jax.Array]:
    """Returns (factors [..., M, F], overall [..., M]): unweighted means of benchmarks, then factors."""
    onehot = jax.nn.one_hot(bench_factor, n_factors)  # [Bm, F]
    counts = onehot.sum(0)
    # NaN in any benchmark makes its factor NaN: a partial factor would not be comparable.
    f = jnp.einsum("...mb,bf->...mf", v, onehot) / counts
    return f, jnp.mean(f, axis=-1)


def score_pipeline(x: jax.Array, col_bench, col_weight, bench_offset, bench_factor, n_factors: int, method):
    """Returns (benchmarks, factors, overall) from task metrics, for any leading batch axes."""
    v = normalize(benchmark_values(x, col_bench, col_weight, bench_offset), method)
    f, o = factor_values(v, bench_factor, n_factors)
    return v, f, o


# ----------------------------------------------------------------------------- analytic stderr


def analytic_stderr(inp: FactorInputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns raw-score stderrs (benchmarks [M,Bm], factors [M,F], overall [M]) from stderr columns."""
    M, nb = inp.x.shape[0], len(inp.benchmarks)
    se_b = np.full((M, nb), np.nan)
    for bi, b in enumerate(inp.benchmarks):
        cols = np.flatnonzero(inp.col_bench == bi)
        w = np.abs(inp.col_weight[cols])
        se = inp.se[:, cols]
        if b.same_items:
            # Unknown stderrs of metrics on the same items: the mean of the known ones.
            se = np.where(np.isnan(se), _row_nanmean(se)[:, None], se)
            se_b[:, bi] = (w * se).sum(1)
        else:
            se_b[:, bi] = np.sqrt((w ** 2 * se ** 2).sum(1))
    F = len(inp.factors)
    se_f = np.full((M, F), np.nan)
    for fi in range(F):
        cols = np.flatnonzero(inp.bench_factor == fi)
        se_f[:, fi] = np.sqrt((se_b[:, cols] ** 2).sum(1)) / len(cols)
    se_o = np.sqrt((se_f ** 2).sum(1)) / F
    return se_b, se_f, se_o


# ----------------------------------------------------------------------------- scores with CIs


@dataclass
class FactorScores:
    """Benchmark, factor and overall scores per model, each with a CI and how it was obtained."""

    models: list[str]
    benchmarks: list[str]
    factors: list[str]  # printed labels (WK, IF, SAFE), in `FACTORS` order
    normalization: str
    bench: np.ndarray  # [M, Bm]
    bench_lo: np.ndarray
    bench_hi: np.ndarray
    factor: np.ndarray  # [M, F]
    factor_lo: np.ndarray
    factor_hi: np.ndarray
    overall: np.ndarray  # [M]
    overall_lo: np.ndarray
    overall_hi: np.ndarray
    ci_method: str
    level: float
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> np.ndarray:
        """Returns the scores of factor `name`, `overall`, or benchmark `name` across models."""
        if name == "overall":
            return self.overall
        if name in self.factors:
            return self.factor[:, self.factors.index(name)]
        if name in self.benchmarks:
            return self.bench[:, self.benchmarks.index(name)]
        raise KeyError(f"no factor/benchmark {name!r}; have {self.factors + self.benchmarks + ['overall']}")

    def to_dict(self) -> dict:
        """Returns the scores and intervals per model as a JSON-friendly dict (NaN becomes None)."""

        def rows(values, lo, hi, names):
            return {
                m: {n: {"value": _f(values[i, j]), "ci": [_f(lo[i, j]), _f(hi[i, j])]} for j, n in enumerate(names)}
                for i, m in enumerate(self.models)
            }

        return {
            "normalization": self.normalization,
            "ci_method": self.ci_method,
            "level": self.level,
            "benchmarks": rows(self.bench, self.bench_lo, self.bench_hi, self.benchmarks),
            "factors": rows(self.factor, self.factor_lo, self.factor_hi, self.factors),
            "overall": {m: {"value": _f(self.overall[i]), "ci": [_f(self.overall_lo[i]), _f(self.overall_hi[i])]}
                        for i, m in enumerate(self.models)},
            "notes": list(self.notes),
        }


def _f(v) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def _simulate_scores(key, x, noise_se, noise_group, n_groups, qd_arrays, col_bench, col_weight, bench_offset,
                     bench_factor, *, n_factors, method, n_rounds, batch_size, n_questions=0):
    """Returns per-round (benchmarks, factors, overall) under question resampling and/or normal noise."""

    def one(k):
        k_noise, k_q = jax.random.split(k)
        eps = jax.random.normal(k_noise, (x.shape[0], n_groups), x.dtype)
        xd = x + noise_se * eps[:, noise_group]
        if qd_arrays is not None:
            num, den, slot_stream, stream_offset, stream_size, u_offset, col_index = qd_arrays
            idx = resample_slots(k_q, slot_stream, stream_offset, stream_size, u_offset, n_questions)
            xs = question_means(num, den, slot_stream, stream_offset.shape[0], idx)
            xd = xd.at[:, col_index].set(xs)
        return score_pipeline(xd, col_bench, col_weight, bench_offset, bench_factor, n_factors, method)

    keys = jax.random.split(key, n_rounds)
    return jax.lax.map(one, keys, batch_size=batch_size)


_simulate_scores_jit = jax.jit(_simulate_scores,
                               static_argnames=("n_groups", "n_factors", "n_rounds", "batch_size", "n_questions"))
_score_pipeline_jit = jax.jit(score_pipeline, static_argnames=("n_factors",))


def factor_scores(results: Sequence[ModelResults] | dict[str, ModelResults],
                  benchmarks: Sequence[Benchmark] | None = None, *, name_map: NameMap | None = None,
                  registry: Registry | None = None, normalization: str = "raw", n_bootstrap: int = 1000, level: float = 0.95,
                  seed: int = 0, use_samples: bool = True) -> FactorScores:
    """Returns every model's benchmark, factor and overall scores with `level` CIs.

    Tasks whose per-question logs every model has are bootstrapped over questions (paired across
    models); the rest follow the stderr columns (analytic for `raw` when no task has logs, normal
    simulation otherwise). Benchmarks default to those of `registry`'s suite (SOS-Bench). See the
    module docstring for the formulas.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    merged = results if isinstance(results, dict) else merge_results(results, name_map)
    inp = resolve_inputs(merged, benchmarks, registry=registry)
    labels = [FACTOR_LABELS[f] for f in inp.factors]
    notes = list(inp.notes)
    qd = pack_question_data(inp.models, inp.columns, merged, notes) if use_samples else None
    x = inp.x.copy()
    if qd is not None:
        full = np.asarray(question_means(jnp.asarray(qd.num), jnp.asarray(qd.den), jnp.asarray(qd.slot_stream),
                                         len(qd.col_index)))
        diff = np.nanmax(np.abs(full - x[:, qd.col_index]))
        if diff > 1e-4:
            notes.append(f"per-question logs differ from reported metrics by up to {diff:.4f}; using the logs")
        x[:, qd.col_index] = full
    F = len(inp.factors)
    pipe_args = (jnp.asarray(inp.col_bench), jnp.asarray(inp.col_weight, jnp.float32),
                 jnp.asarray(inp.bench_offset, jnp.float32), jnp.asarray(inp.bench_factor))
    v, f, o = (np.asarray(a, np.float64) for a in
               _score_pipeline_jit(jnp.asarray(x, jnp.float32), *pipe_args, n_factors=F,
                                   method=jnp.int32(NORMALIZATIONS.index(normalization))))
    z = _normal_quantile(0.5 + level / 2)
    if qd is None and normalization == "raw":
        se_b, se_f, se_o = analytic_stderr(inp)
        return FactorScores(inp.models, [b.name for b in inp.benchmarks], labels, normalization,
                            v, v - z * se_b, v + z * se_b, f, f - z * se_f, f + z * se_f, o, o - z * se_o, o + z * se_o,
                            "stderr-normal (analytic)", level, notes)
    # Noise groups: independent columns each get their own draw; IFEval-like benchmarks share one.
    noise_group, groups = np.zeros(len(inp.columns), np.int32), {}
    noise_se = inp.se.copy()
    for p, bi in enumerate(inp.col_bench):
        b = inp.benchmarks[bi]
        gkey = ("b", int(bi)) if b.same_items else ("c", p)
        noise_group[p] = groups.setdefault(gkey, len(groups))
        if b.same_items:
            cols = np.flatnonzero(inp.col_bench == bi)
            with np.errstate(all="ignore"):
                fill = _row_nanmean(inp.se[:, cols])
            noise_se[:, p] = np.where(np.isnan(noise_se[:, p]), fill, noise_se[:, p])
    sample_cols = np.zeros(len(inp.columns), bool)
    if qd is not None:
        sample_cols[qd.col_index] = True
    noise_se = np.where(sample_cols[None, :], 0.0, noise_se)
    qd_arrays = None
    per_round = x.size * 4 * 8
    if qd is not None:
        qd_arrays = tuple(jnp.asarray(a) for a in (qd.num, qd.den, qd.slot_stream, qd.stream_offset, qd.stream_size,
                                                   qd.u_offset, qd.col_index))
        per_round += qd.num.nbytes * 3 + qd.slot_stream.nbytes * 6 + qd.n_questions * 4
    batch = round_chunk(per_round, n_rounds=n_bootstrap)
    vb, fb, ob = _simulate_scores_jit(
        jax.random.key(seed), jnp.asarray(x, jnp.float32), jnp.asarray(noise_se, jnp.float32),
        jnp.asarray(noise_group), len(groups), qd_arrays, *pipe_args,
        n_factors=F, method=jnp.int32(NORMALIZATIONS.index(normalization)), n_rounds=n_bootstrap, batch_size=batch,
        n_questions=0 if qd is None else qd.n_questions)
    (vl, vh), (fl, fh), (ol, oh) = (tuple(np.asarray(a, np.float64) for a in percentile_interval(d, level))
                                    for d in (vb, fb, ob))
    if qd is None:
        method = "stderr-normal (simulated)"
    elif sample_cols.all():
        method = "bootstrap over questions"
    else:
        method = f"bootstrap over questions ({len(qd.tasks)} task(s)) + stderr-normal (rest)"
    return FactorScores(inp.models, [b.name for b in inp.benchmarks], labels, normalization,
                        v, vl, vh, f, fl, fh, o, ol, oh, method, level, notes)


def _row_nanmean(a: np.ndarray) -> np.ndarray:
    cnt = (~np.isnan(a)).sum(1)
    s = np.where(np.isnan(a), 0.0, a).sum(1)
    return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))
