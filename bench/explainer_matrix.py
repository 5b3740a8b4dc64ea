"""Benchmark: the six-explainer disagreement matrix in pear_jax vs Captum on the same weights.

Setting (PEAR's evaluation): 500 rows of 8 min-max-scaled features, a 3x100 ReLU MLP with two
classes, attributions for the true label with the reference settings (IG 20 Gauss-Legendre steps
without input multiplication and a training-mean baseline, SmoothGrad 10 samples sigma 1, LIME 200
samples lasso 1e-4 zero baseline, KernelSHAP 200 samples training-mean baseline), then all
agreement metrics for every explainer pair at k = 5.

Ours: the six `pear_jax.explainers` plus `pear_jax.agreement.disagreement_matrix`, timed warm
(median of --repeats runs); the first call's extra time is reported as compile_s. Peer: the same
six Captum explainers as pear-xai builds them on a torch copy of the JAX weights, plus the
reference's per-row numpy metrics, in the same process. Captum's LIME and KernelSHAP fit one
model per row (about a minute for 500 rows on the shared 2-core box at moderate load, several when
it is saturated); `--captum-rows N` times them (and the per-row reference metrics) on the first N
rows only and scales per row, printing that it did. The default times the full path.

Run: python bench/explainer_matrix.py            (last line: one JSON object)
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from pear_jax import agreement, explainers

NAMES = ("gradient_x_input", "integrated_gradients", "lime", "kernel_shap", "smoothgrad", "vanilla_gradient")


def make_problem(rows: int, features: int, hidden: int, seed: int):
    """Returns (params, x, y, train_mean): a random 3-layer ReLU MLP and min-max-scaled data."""
    rng = np.random.default_rng(seed)
    sizes = [features, hidden, hidden, hidden, 2]
    params = [
        (jnp.asarray(rng.normal(size=(m, n)) * np.sqrt(2.0 / m), jnp.float32),
         jnp.asarray(rng.normal(size=(n,)) * 0.05, jnp.float32))
        for m, n in zip(sizes[:-1], sizes[1:])
    ]
    raw_train = rng.normal(size=(4000, features)) @ rng.normal(size=(features, features))
    lo, hi = raw_train.min(axis=0), raw_train.max(axis=0)
    train = (raw_train - lo) / (hi - lo)
    raw_test = rng.normal(size=(rows, features)) @ rng.normal(size=(features, features))
    x = ((raw_test - raw_test.min(axis=0)) / np.ptp(raw_test, axis=0)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > x[:, 2] + 0.5).astype(np.int32)
    return params, x, y, train.mean(axis=0).astype(np.float32)


def mlp(params, x):
    for i, (w, b) in enumerate(params):
        x = x @ w + b
        if i < len(params) - 1:
            x = jax.nn.relu(x)
    return x


# ----------------------------------------------------------------------------- ours


def ours_matrix(params, x, y, base, key, k):
    keys = jax.random.split(key, 3)
    attrs = {
        "gradient_x_input": explainers.gradient_x_input(mlp, params, x, y),
        "integrated_gradients": explainers.integrated_gradients(mlp, params, x, y, baseline=base, n_steps=20),
        "lime": explainers.lime(mlp, params, x, y, keys[0], n_samples=200, alpha=1e-4),
        "kernel_shap": explainers.kernel_shap(mlp, params, x, y, keys[1], baseline=base, n_samples=200),
        "smoothgrad": explainers.smoothgrad(mlp, params, x, y, keys[2], n_samples=10, sigma=1.0),
        "vanilla_gradient": explainers.vanilla_gradient(mlp, params, x, y),
    }
    return attrs, agreement.disagreement_matrix(attrs, k)


# ----------------------------------------------------------------------------- Captum peer


def torch_model(params):
    import torch

    layers = []
    for i, (w, b) in enumerate(params):
        lin = torch.nn.Linear(*w.shape)
        lin.weight.data = torch.tensor(np.asarray(w).T.copy())
        lin.bias.data = torch.tensor(np.asarray(b).copy())
        layers.append(lin)
        if i < len(params) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def captum_attributions(model, x, y, base, rows_for_sampled):
    """Returns ({name: (n, d)}, {name: seconds}); LIME/KernelSHAP on the first rows only if asked."""
    import torch
    from captum._utils.models.linear_model import SkLearnLasso
    from captum.attr import InputXGradient, IntegratedGradients, KernelShap, Lime, NoiseTunnel, Saliency

    tx, ty, tb = torch.tensor(x), torch.tensor(y, dtype=torch.long), torch.tensor(base)[None]
    calls = {
        "gradient_x_input": lambda xs, ys: InputXGradient(model).attribute(xs, target=ys),
        "integrated_gradients": lambda xs, ys: IntegratedGradients(model, multiply_by_inputs=False).attribute(
            xs, baselines=tb, target=ys, return_convergence_delta=False, n_steps=20),
        "lime": lambda xs, ys: Lime(model, interpretable_model=SkLearnLasso(alpha=0.0001)).attribute(
            xs, n_samples=200, target=ys),
        "kernel_shap": lambda xs, ys: KernelShap(model).attribute(xs, n_samples=200, baselines=tb, target=ys),
        "smoothgrad": lambda xs, ys: NoiseTunnel(Saliency(model)).attribute(
            xs, nt_type="smoothgrad", nt_samples=10, target=ys, abs=False),
        "vanilla_gradient": lambda xs, ys: Saliency(model).attribute(xs, target=ys, abs=False),
    }
    out, seconds = {}, {}
    for name, call in calls.items():
        rows = rows_for_sampled if name in ("lime", "kernel_shap") else len(x)
        xs = tx[:rows].clone().requires_grad_(True)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attr = call(xs, ty[:rows])
        elapsed = time.perf_counter() - start
        seconds[name] = elapsed * len(x) / rows  # per-row scaling only when a subset was timed
        out[name] = attr.detach().numpy()
        print(f"  captum {name:22s} {elapsed:8.2f} s on {rows} rows", flush=True)
    return out, seconds


def reference_metrics(a, b, k):
    """The pear-xai metric code's computation (numpy/scipy, per-row loops), all metrics."""
    from scipy.special import comb
    from scipy.stats import kendalltau, pearsonr, rankdata

    ta = np.argsort(-np.abs(a), axis=1)[:, :k]
    tb = np.argsort(-np.abs(b), axis=1)[:, :k]
    stack = np.sort(np.hstack((ta, tb)), axis=1)
    out = {"feature_agreement": np.sum(stack[:, 1:] == stack[:, :-1], axis=1) / k,
           "rank_agreement": (ta == tb).sum(axis=1) / k}
    sign, signed = [], []
    for i in range(len(a)):
        common = set(ta[i]) & set(tb[i])
        sign.append(sum(np.sign(a[i][j]) == np.sign(b[i][j]) for j in common) / k)
        same = ta[i][np.where(ta[i] == tb[i])[0]]
        signed.append((np.sign(a[i][same]) == np.sign(b[i][same])).sum() / k)
    out["sign_agreement"], out["signed_rank_agreement"] = np.array(sign), np.array(signed)
    ra, rb = rankdata(np.abs(a), axis=1), rankdata(np.abs(b), axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["rank_correlation"] = np.array([pearsonr(ra[i], rb[i])[0] for i in range(len(a))])
        out["pearson_correlation"] = np.array([pearsonr(a[i], b[i])[0] for i in range(len(a))])
        out["kendall_tau"] = np.array([kendalltau(np.abs(a[i]), np.abs(b[i]))[0] for i in range(len(a))])
    da, db = rankdata(-np.abs(a), method="dense", axis=1), rankdata(-np.abs(b), method="dense", axis=1)
    same_order = np.zeros(len(a))
    for f1, f2 in itertools.combinations(range(a.shape[1]), 2):
        same_order += (da[:, f1] < da[:, f2]) == (db[:, f1] < db[:, f2])
    out["pairwise_rank_agreement"] = same_order / comb(a.shape[1], 2)
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    # The full Captum path took 52 s here at moderate load, but up to ~4.5 min when the shared
    # box was saturated (LIME ~0.4 s/row); --captum-rows N then times a subset, scaled per row.
    parser.add_argument("--captum-rows", type=int, default=None,
                        help="time Captum's per-row LIME/KernelSHAP (and the per-row reference metrics) "
                             "on only this many rows and scale per row (default: all rows)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    params, x, y, base = make_problem(args.rows, args.features, args.hidden, args.seed)
    key = jax.random.key(args.seed)
    print(f"{args.rows} rows, {args.features} features, 3x{args.hidden} ReLU MLP, k={args.k}; "
          f"jax {jax.__version__} on {jax.devices()[0].platform} x{jax.device_count()}", flush=True)

    def run_ours():
        attrs, result = ours_matrix(params, jnp.asarray(x), jnp.asarray(y), jnp.asarray(base), key, args.k)
        jax.block_until_ready(attrs)
        return attrs, result

    start = time.perf_counter()
    attrs, result = run_ours()
    first = time.perf_counter() - start
    warm = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        run_ours()
        warm.append(time.perf_counter() - start)
    ours_s = float(np.median(warm))
    compile_s = max(first - ours_s, 0.0)
    print(f"ours: median {ours_s * 1e3:.1f} ms over {args.repeats} warm runs (min {min(warm) * 1e3:.1f} ms); "
          f"first call {first:.2f} s -> compile ~{compile_s:.2f} s", flush=True)

    model = torch_model(params)
    rows_for_sampled = min(args.captum_rows or args.rows, args.rows)
    if rows_for_sampled < args.rows:
        print(f"captum: LIME and KernelSHAP timed on {rows_for_sampled} of {args.rows} rows and scaled per row",
              flush=True)
    captum_attrs, captum_seconds = captum_attributions(model, x, y, base, rows_for_sampled)
    start = time.perf_counter()
    for a_name, b_name in itertools.product(NAMES, NAMES):
        reference_metrics(captum_attrs[a_name][:rows_for_sampled], captum_attrs[b_name][:rows_for_sampled], args.k)
    metrics_s = (time.perf_counter() - start) * args.rows / rows_for_sampled
    captum_s = sum(captum_seconds.values()) + metrics_s
    print(f"captum: explainers {sum(captum_seconds.values()):.2f} s + reference metrics {metrics_s:.2f} s "
          f"= {captum_s:.2f} s", flush=True)
    speedup = captum_s / ours_s
    print(f"speedup: {speedup:.0f}x (ours warm median vs Captum path)", flush=True)

    # Same weights, same definitions: the deterministic explainers must agree to float precision;
    # the sampled ones agree up to sampling (ours: exact Shapley values for d <= 12).
    max_diff = {n: float(np.abs(np.asarray(attrs[n]) - captum_attrs[n]).max())
                for n in ("gradient_x_input", "integrated_gradients", "vanilla_gradient")}
    rows = rows_for_sampled
    agree_sampled = {n: float(np.mean(np.asarray(agreement.feature_agreement(
        np.asarray(attrs[n])[:rows], captum_attrs[n][:rows], args.k)))) for n in ("lime", "kernel_shap", "smoothgrad")}
    print(f"ours vs captum: max |diff| {max_diff}; top-{args.k} feature agreement {agree_sampled}", flush=True)
    fa = result["metrics"]["feature_agreement"]["mean"]
    print("feature agreement (ours), rows/cols = " + ", ".join(result["explainers"]))
    print(np.array2string(fa, precision=2))

    print(json.dumps({
        "ours_s": round(ours_s, 5),
        "captum_s": round(captum_s, 3),
        "speedup": round(speedup, 1),
        "compile_s": round(compile_s, 3),
        "captum_explainers_s": {n: round(s, 3) for n, s in captum_seconds.items()},
        "captum_metrics_s": round(metrics_s, 3),
        "captum_rows_timed": rows_for_sampled,
        "rows": args.rows,
        "max_abs_diff_vs_captum": max_diff,
        "topk_agreement_vs_captum": agree_sampled,
    }))


if __name__ == "__main__":
    main()
