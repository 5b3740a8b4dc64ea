"""Benchmark: style-controlled Bradley-Terry with 100 bootstrap rounds, JAX (one vmapped Newton
solve) vs a loop of scikit-learn fits as arena-hard-auto runs it, on the same resampled rows.

50 models x 50,000 battles against a baseline with 4 style covariates (defaults). The scikit-learn
peer follows arena-hard-auto's construction: every battle row duplicated, a tie split into one win
and one loss, LogisticRegression(fit_intercept=False, no penalty, tol=1e-8) refitted per round.
Both fit exactly the same bootstrap rows (the JAX kernel's draws), so scores are comparable
round by round; the JAX timing is one call fitting the full data plus every round. Prints the
median JAX time, the scikit-learn total, the ratio and the largest score difference over all
rounds and models; the last line is one JSON object. Takes ~5-10 minutes on the shared 2-core box
(the scikit-learn loop dominates; run in full, no extrapolation).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from sos_jax.judge.battles import Battles
from sos_jax.judge.bradley_terry import (
    _round_counts,
    _zscore,
    battle_bucket,
    bt_bootstrap_kernel,
    pair_table,
    resampling_table,
)


def make_battles(num_models: int, num_battles: int, seed: int) -> tuple[Battles, np.ndarray]:
    """Returns synthetic battles of models 1..M-1 against baseline 0 with style effects."""
    rng = np.random.default_rng(seed)
    theta = np.concatenate([[0.0], rng.normal(-0.5, 0.8, num_models - 1)])
    a = rng.integers(1, num_models, num_battles).astype(np.int32)
    b = np.zeros(num_battles, np.int32)
    style = rng.normal(size=(num_battles, 4)) * [0.3, 0.05, 0.05, 0.05]
    beta = np.array([0.6, 0.2, 0.1, 0.1])
    z = (style - style.mean(0)) / style.std(0)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + z @ beta)))
    u = rng.random(num_battles)
    y = np.where(u < 0.9 * p, 1.0, np.where(u < 0.9 * p + 0.1, 0.5, 0.0))
    battles = Battles(
        models=tuple(f"model-{i}" for i in range(num_models)),
        a=a, b=b, outcome=y, weight=np.ones(num_battles), question_id=np.arange(num_battles), style=style,
    )
    return battles, theta


def sklearn_rounds(battles: Battles, counts: np.ndarray, num_models: int) -> np.ndarray:
    """Returns (rounds, M) scores from one scikit-learn fit per round, arena-hard-auto style."""
    from sklearn.linear_model import LogisticRegression

    n = len(battles)
    s, _ = _zscore(battles.style, battles.weight)
    x = np.zeros((n, num_models + s.shape[1]))
    x[np.arange(n), battles.a] = math.log(10)
    x[np.arange(n), battles.b] = -math.log(10)
    x[:, num_models:] = s
    scores = []
    for c in counts:
        idx = np.repeat(np.arange(n), c.astype(np.int64))
        xb, yb = x[idx], battles.outcome[idx]
        xx = np.concatenate([xb, xb])
        yy = np.concatenate([(yb >= 0.5), (yb == 1.0)]).astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lr = LogisticRegression(fit_intercept=False, penalty=None, tol=1e-8, max_iter=1000)
            lr.fit(xx, yy)
        elo = 400 * lr.coef_[0][:num_models]
        elo = elo - elo[0]
        scores.append(100 / (1 + 10 ** (-elo / 400)))
    return np.array(scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--battles", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=5, help="JAX runs, interleaved with blocks of sklearn rounds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    battles, _ = make_battles(args.models, args.battles, args.seed)
    n = len(battles)
    npad = battle_bucket(n)
    s, free = _zscore(battles.style, battles.weight)
    pad = lambda x: np.concatenate([x, np.zeros((npad - n,) + x.shape[1:], x.dtype)])  # noqa: E731
    inputs = (
        jax.random.key(args.seed),
        jnp.asarray(pad(battles.a)), jnp.asarray(pad(battles.b)),
        jnp.asarray(pad(battles.outcome), jnp.float32), jnp.asarray(pad(battles.weight), jnp.float32),
        jnp.asarray(pad(s), jnp.float32), jnp.asarray(free),
        *map(jnp.asarray, resampling_table(pad(battles.weight), "rows", npad)),
        tuple(map(jnp.asarray, pair_table(pad(battles.a), pad(battles.b), args.models))),
    )
    kw = dict(num_models=args.models, n_bootstrap=args.rounds, resample="rows")

    t0 = time.perf_counter()
    jax.block_until_ready(bt_bootstrap_kernel(*inputs, **kw))
    compile_s = time.perf_counter() - t0
    counts = np.asarray(_round_counts(inputs[0], inputs[7], inputs[8], npad, n_bootstrap=args.rounds))[:, :n]

    # The box is shared and its load drifts, so the two are interleaved: one full JAX run (all
    # rounds) between consecutive blocks of scikit-learn rounds; JAX reports the median run.
    times, sk_blocks, sklearn_s = [], [], 0.0
    blocks = np.array_split(np.arange(args.rounds), max(1, min(args.blocks, args.rounds)))
    for block in blocks:
        t0 = time.perf_counter()
        theta, _, done, iters = jax.block_until_ready(bt_bootstrap_kernel(*inputs, **kw))
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sk_blocks.append(sklearn_rounds(battles, counts[block], args.models))
        sklearn_s += time.perf_counter() - t0
    ours_s = statistics.median(times)
    ours_scores = 100 / (1 + np.exp(-np.asarray(theta, np.float64)))[1:]
    sk_scores = np.concatenate(sk_blocks)

    diff = float(np.abs(ours_scores - sk_scores).max())
    print(f"{args.models} models x {n} battles, 4 style covariates, {args.rounds} bootstrap rounds")
    print(f"JAX   : median {ours_s:.3f} s over {len(times)} runs (first call incl. compile {compile_s:.2f} s), "
          f"Newton iterations per round median {int(np.median(np.asarray(iters)))}, all converged {bool(np.asarray(done).all())}")
    print(f"sklearn loop: {sklearn_s:.2f} s ({sklearn_s / args.rounds:.2f} s per round)")
    print(f"speedup {sklearn_s / ours_s:.1f}x, max |score difference| {diff:.2e} (score scale 0-100)")
    print(json.dumps({"ours_s": round(ours_s, 4), "sklearn_s": round(sklearn_s, 3),
                      "speedup": round(sklearn_s / ours_s, 2), "max_score_diff": diff}))


if __name__ == "__main__":
    main()
