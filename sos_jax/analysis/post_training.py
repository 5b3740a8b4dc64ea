"""Post-training attribution: what the SFT and preference-optimisation (PO) stages do to each
factor, from a model-metadata table (`post_training_models.yaml` ships one for the published
results), and the SOS-Bench claim that SFT, not PO, moves alignment most, driven by data scale.

* Pairs: every `sft` model whose parent (its base) is in the results gives an SFT effect
  child - parent per factor (and overall); every `po` model whose parent (its SFT model) is in
  the results gives a PO effect. `instruct` releases (vendor mixes of both stages) and models
  whose parent is not in the results are listed but left out.
* A pair's CI: d +- z sqrt(se_child^2 + se_parent^2), with each model's se read off its factor
  CI. Both models answered the same questions, so their errors are positively correlated and
  this interval is wider than a per-question paired one would be (conservative); the results
  carry no per-question logs to do better.
* A stage's effect: the mean over its pairs, CI from a bootstrap that resamples the pairs and
  redraws each pair's difference from N(d, se^2) (model sampling and measurement noise). The PO
  pairs share parents (five of six share one SFT model), so they are not independent draws and
  that interval is optimistic; the report says so.
* The claim: per factor, mean |SFT effect| - mean |PO effect| with the same bootstrap; "supported"
  when its interval lies above 0.
* Scale: SFT effect against log10(number of SFT examples) over the SFT pairs with a known size:
  OLS slope per decade with a bootstrap-over-models CI, and Spearman's rho with a permutation p.
  Diversity has no published figure for these datasets, so that part of the claim is untested.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

METADATA = Path(__file__).with_name("post_training_models.yaml")
STAGES = ("base", "sft", "po", "instruct")
_FIELDS = ("base", "parent", "stage", "dataset", "n_examples")


def load_metadata(path: str | Path | Mapping | None = None) -> dict[str, dict[str, Any]]:
    """Returns model -> metadata from a YAML mapping (default: the bundled table), validated."""
    src = "<dict>"
    if path is None or isinstance(path, (str, Path)):
        import yaml

        src = str(path or METADATA)
        obj = yaml.safe_load(Path(src).read_text(encoding="utf-8"))
    else:
        obj = path
    if not isinstance(obj, Mapping):
        raise ValueError(f"{src}: model metadata must be a mapping model -> fields, got {type(obj).__name__}")
    out = {}
    for model, meta in obj.items():
        if not isinstance(meta, Mapping):
            raise ValueError(f"{src}: entry {model!r} must be a mapping of {_FIELDS}")
        missing = [f for f in _FIELDS if f not in meta]
        if missing:
            raise ValueError(f"{src}: entry {model!r} lacks field(s) {missing}")
        if meta["stage"] not in STAGES:
            raise ValueError(f"{src}: entry {model!r}: stage must be one of {STAGES}, got {meta['stage']!r}")
        n = meta["n_examples"]
        if not (n == "unknown" or (isinstance(n, int) and n > 0)):
            raise ValueError(f"{src}: entry {model!r}: n_examples must be a positive integer or 'unknown', got {n!r}")
        if isinstance(n, int) and not meta.get("n_examples_source"):
            raise ValueError(f"{src}: entry {model!r}: n_examples {n} needs an n_examples_source")
        out[str(model)] = dict(meta)
    return out


def _stage_bootstrap(d: np.ndarray, se: np.ndarray, rng, n_boot: int) -> np.ndarray:
    """Returns (n_boot, F) bootstrap means of pair differences d [P, F] with noise se [P, F]."""
    idx = rng.integers(0, len(d), (n_boot, len(d)))
    noise = rng.standard_normal((n_boot, len(d), d.shape[1])) * np.nan_to_num(se[idx])
    return (d[idx] + noise).mean(1)


def _interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    a = 100 * (1 - level) / 2
    return np.percentile(draws, a, axis=0), np.percentile(draws, 100 - a, axis=0)


def post_training_analysis(scores, metadata: Mapping[str, Mapping[str, Any]], *, level: float = 0.95,
                           n_boot: int = 4000, n_perm: int = 10000, seed: int = 0) -> dict[str, Any]:
    """Returns the stage effects, the SFT-vs-PO comparison and the scale analysis (see module doc).

    `scores` is a `FactorScores` (raw normalisation reads best: effects in score units); model
    names in `metadata` must be the results' canonical names.
    """
    from scipy.stats import norm, spearmanr

    z = float(norm.ppf(0.5 + level / 2))
    names = list(scores.factors) + ["overall"]
    val = np.column_stack([scores.factor, scores.overall])
    lo = np.column_stack([scores.factor_lo, scores.overall_lo])
    hi = np.column_stack([scores.factor_hi, scores.overall_hi])
    se = (hi - lo) / (2 * z)
    index = {m: i for i, m in enumerate(scores.models)}
    pairs, skipped = [], []
    for model, meta in metadata.items():
        stage, parent = meta["stage"], meta.get("parent")
        if stage not in ("sft", "po"):
            continue
        why = None
        if model not in index:
            why = "not in the results"
        elif not parent or parent not in index:
            why = f"parent {parent!r} not in the results"
        if why:
            skipped.append({"model": model, "stage": stage, "why": why})
            continue
        i, j = index[model], index[parent]
        d = val[i] - val[j]
        s = np.sqrt(se[i] ** 2 + se[j] ** 2)
        pairs.append({
            "model": model, "parent": parent, "stage": stage, "dataset": meta.get("dataset"),
            "n_examples": meta["n_examples"], "base_certain": bool(meta.get("base_certain", True)),
            "effects": {f: {"value": float(d[k]), "ci_low": float(d[k] - z * s[k]), "ci_high": float(d[k] + z * s[k])}
                        for k, f in enumerate(names)},
            "_d": d, "_se": s,
        })
    rng = np.random.default_rng(seed)
    stage_effects, draws_abs = {}, {}
    for stage in ("sft", "po"):
        ps = [p for p in pairs if p["stage"] == stage]
        if not ps:
            continue
        d = np.stack([p["_d"] for p in ps])
        s = np.stack([p["_se"] for p in ps])
        boot = _stage_bootstrap(d, s, rng, n_boot)
        idx = rng.integers(0, len(d), (n_boot, len(d)))
        draws_abs[stage] = np.abs(d[idx] + rng.standard_normal((n_boot, len(d), d.shape[1])) * s[idx]).mean(1)
        blo, bhi = _interval(boot, level)
        stage_effects[stage] = {"n_pairs": len(ps), "effects": {
            f: {"mean": float(d[:, k].mean()), "ci_low": float(blo[k]), "ci_high": float(bhi[k]),
                "mean_abs": float(np.abs(d[:, k]).mean())} for k, f in enumerate(names)}}
    comparison = {}
    if "sft" in draws_abs and "po" in draws_abs:
        diff = draws_abs["sft"] - draws_abs["po"]
        dlo, dhi = _interval(diff, level)
        for k, f in enumerate(names):
            est = stage_effects["sft"]["effects"][f]["mean_abs"] - stage_effects["po"]["effects"][f]["mean_abs"]
            verdict = "supported" if dlo[k] > 0 else ("contradicted" if dhi[k] < 0 else "not resolved")
            comparison[f] = {"sft_minus_po_mean_abs": float(est), "ci_low": float(dlo[k]), "ci_high": float(dhi[k]),
                             "claim": verdict}
    scale = {}
    sized = [p for p in pairs if p["stage"] == "sft" and isinstance(p["n_examples"], int)]
    if len(sized) >= 3:
        x = np.log10([p["n_examples"] for p in sized])
        for k, f in enumerate(names):
            y = np.array([p["_d"][k] for p in sized])
            slope = float(np.polyfit(x, y, 1)[0]) if np.ptp(x) > 0 else math.nan
            idx = rng.integers(0, len(x), (n_boot, len(x)))
            bs = [np.polyfit(x[i], y[i], 1)[0] for i in idx if np.ptp(x[i]) > 0]
            slo, shi = _interval(np.asarray(bs)[:, None], level) if bs else ([math.nan], [math.nan])
            if np.ptp(y) > 0:
                rho = float(spearmanr(x, y).statistic)
                null = np.array([spearmanr(x, rng.permutation(y)).statistic for _ in range(min(n_perm, 2000))])
                p = float((np.sum(np.abs(null) >= abs(rho) - 1e-12) + 1) / (len(null) + 1))
            else:  # no variation in the effect: no rank correlation to test
                rho = p = math.nan
            scale[f] = {"n": len(sized), "slope_per_decade": slope, "ci_low": float(slo[0]), "ci_high": float(shi[0]),
                        "spearman": rho, "p_permutation": p}
    leverage = None
    if len(sized) >= 3:
        x = np.log10([p["n_examples"] for p in sized])
        h = 1 / len(x) + (x - x.mean()) ** 2 / max(np.sum((x - x.mean()) ** 2), 1e-12)
        k = int(np.argmax(h))
        leverage = {"model": sized[k]["model"], "leverage": float(h[k])}
    for p in pairs:
        p.pop("_d"), p.pop("_se")
    return {
        "metadata_models": len(metadata), "pairs": pairs, "skipped": skipped, "stage_effects": stage_effects,
        "sft_vs_po": comparison, "scale": scale,
        "scale_models": [{"model": p["model"], "n_examples": p["n_examples"]} for p in sized],
        "scale_max_leverage": leverage,
        "diversity": "no diversity figure is published for these datasets: that part of the claim is untested",
        "level": level, "n_boot": n_boot,
        "method": ("pair CI: independent-error approximation (conservative for models judged on the same questions); "
                   "stage CI: bootstrap over pairs with each pair's difference redrawn from its normal error; PO pairs "
                   "share parents, so the PO interval is optimistic"),
    }


__all__ = ["METADATA", "load_metadata", "post_training_analysis"]
