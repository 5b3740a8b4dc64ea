"""Tests for sos_jax/analysis/post_training.py: metadata validation, stage effects, the claim, scale."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sos_jax.analysis.post_training import METADATA, load_metadata, post_training_analysis

ANCHOR = Path(__file__).resolve().parents[3].parent / "shared/anchors/sos-bench/artifacts/eleuther_wandb.csv"


def fake_scores(values: dict[str, list[float]], se: float = 0.01):
    models = list(values)
    f = np.array([values[m] for m in models], float)
    z = 1.959963984540054
    o = f.mean(1)
    return SimpleNamespace(models=models, factors=["WK", "IF", "SAFE"], factor=f, factor_lo=f - z * se,
                           factor_hi=f + z * se, overall=o, overall_lo=o - z * se, overall_hi=o + z * se)


def meta(stage, parent, n="unknown"):
    return {"base": "B", "parent": parent, "stage": stage, "dataset": "d", "n_examples": n,
            "n_examples_source": "test" if n != "unknown" else None}


def test_stage_effects_claim_and_scale_on_planted_data():
    rng = np.random.default_rng(0)
    values = {"B": [0.3, 0.1, 0.4]}
    md = {"B": meta("base", None)}
    sizes = [1_000, 10_000, 100_000, 1_000_000, 30_000, 300_000]
    for k, n in enumerate(sizes):
        # SFT lifts IF by 0.1 per decade of data; PO adds a small 0.01.
        sft = f"S{k}"
        values[sft] = [0.3, 0.1 + 0.1 * np.log10(n) + rng.normal(0, 0.005), 0.4]
        md[sft] = meta("sft", "B", n)
        values[f"P{k}"] = [0.3, values[sft][1] + 0.01, 0.4]
        md[f"P{k}"] = meta("po", sft)
    md["I"] = meta("instruct", None)
    values["I"] = [0.5, 0.5, 0.5]
    out = post_training_analysis(fake_scores(values), md, n_boot=500, n_perm=500)
    sft, po = out["stage_effects"]["sft"], out["stage_effects"]["po"]
    assert sft["n_pairs"] == po["n_pairs"] == 6
    assert po["effects"]["IF"]["mean"] == pytest.approx(0.01, abs=1e-9)
    assert po["effects"]["WK"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert sft["effects"]["IF"]["ci_low"] < sft["effects"]["IF"]["mean"] < sft["effects"]["IF"]["ci_high"]
    assert out["sft_vs_po"]["IF"]["claim"] == "supported"
    assert out["sft_vs_po"]["WK"]["claim"] == "not resolved"
    assert out["scale"]["IF"]["slope_per_decade"] == pytest.approx(0.1, abs=0.01)
    assert out["scale"]["IF"]["spearman"] == pytest.approx(1.0) and out["scale"]["IF"]["p_permutation"] < 0.05
    pair = next(p for p in out["pairs"] if p["model"] == "P0")
    d = pair["effects"]["IF"]
    assert d["ci_high"] - d["ci_low"] == pytest.approx(2 * 1.959963984540054 * np.sqrt(2) * 0.01, rel=1e-6)
    assert not any(p["model"] == "I" for p in out["pairs"])  # instruct releases are left out


def test_metadata_validation_names_the_problem():
    with pytest.raises(ValueError, match="needs an n_examples_source"):
        load_metadata({"m": {**meta("sft", "B", 5), "n_examples_source": None}})
    with pytest.raises(ValueError, match="stage must be one of"):
        load_metadata({"m": meta("rlhf", "B")})
    with pytest.raises(ValueError, match="lacks field"):
        load_metadata({"m": {"stage": "sft"}})


def test_bundled_metadata_covers_the_published_results():
    from sos_jax.analysis.ingest import read_results

    md = load_metadata(METADATA)
    assert all(m["n_examples"] == "unknown" or m["n_examples_source"] for m in md.values())
    if not ANCHOR.is_file():
        pytest.skip(f"anchor results absent at {ANCHOR} (../shared beside the repo)")
    assert {r.model for r in read_results(ANCHOR)} == set(md)
    # The published pairs: one SFT parent with five PO children, and Magpie SFT -> aligned.
    po = {m: v["parent"] for m, v in md.items() if v["stage"] == "po"}
    assert sorted(po.values()).count("Llama-3-8B-Ultrachat (princeton)") == 5
    assert po["Llama-3-8B-Magpie-Align-v0.2"] == "Llama-3-8B-Magpie-Align-SFT-v0.2"
