import dataclasses
import math
import types

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from sos_jax.analysis.factors import Benchmark, factor_scores, sos_benchmarks
from sos_jax.analysis.ingest import ModelResults, SampleLog, read_results
from sos_jax.tasks import SOS, Family, Registry, Task, default_registry

TOY = [
    Benchmark("K1", "world_knowledge", ("k1a/acc", "k1b/acc")),
    Benchmark("K2", "world_knowledge", ("k2/acc_norm",)),
    Benchmark("I", "instruction_following", ("ife/p", "ife/i"), same_items=True),
    Benchmark("S1", "safety", ("s1/acc",)),
    Benchmark("W", "safety", ("w1/acc", "w2/acc"), weights=(3, 1), invert=True),
]


def toy_results():
    rng = np.random.default_rng(0)
    out = []
    for m in ("a", "b", "c", "d"):
        keys = ["k1a/acc", "k1b/acc", "k2/acc_norm", "ife/p", "ife/i", "s1/acc", "w1/acc", "w2/acc"]
        vals = rng.uniform(0.2, 0.8, len(keys))
        ses = rng.uniform(0.01, 0.03, len(keys))
        ses[4] = np.nan  # like IFEval's instruction-level N/A stderr
        out.append(ModelResults(m, "toy", dict(zip(keys, vals)), dict(zip(keys, ses))))
    return out


def test_formulas_and_analytic_ci_by_hand():
    res = toy_results()
    fs = factor_scores(res, TOY, level=0.9)
    z = norm.ppf(0.95)
    for i, r in enumerate(res):
        s, e = r.scores, r.stderrs
        k1 = (s["k1a/acc"] + s["k1b/acc"]) / 2
        k2 = s["k2/acc_norm"]
        ife = (s["ife/p"] + s["ife/i"]) / 2
        w = 1 - (3 * s["w1/acc"] + s["w2/acc"]) / 4
        wk, if_, safe = (k1 + k2) / 2, ife, (s["s1/acc"] + w) / 2
        np.testing.assert_allclose(fs.factor[i], [wk, if_, safe], rtol=1e-5)
        assert fs.overall[i] == pytest.approx((wk + if_ + safe) / 3, rel=1e-5)
        se_k1 = math.sqrt(e["k1a/acc"] ** 2 + e["k1b/acc"] ** 2) / 2
        se_wk = math.sqrt(se_k1 ** 2 + e["k2/acc_norm"] ** 2) / 2
        se_if = e["ife/p"]  # same items: mean of stderrs, the missing one filled with the known one
        se_w = math.sqrt((3 / 4 * e["w1/acc"]) ** 2 + (1 / 4 * e["w2/acc"]) ** 2)
        se_safe = math.sqrt(e["s1/acc"] ** 2 + se_w ** 2) / 2
        se_o = math.sqrt(se_wk ** 2 + se_if ** 2 + se_safe ** 2) / 3
        np.testing.assert_allclose(fs.factor_hi[i] - fs.factor[i], z * np.array([se_wk, se_if, se_safe]), rtol=1e-5)
        assert fs.overall_hi[i] - fs.overall[i] == pytest.approx(z * se_o, rel=1e-5)
    assert fs.ci_method == "stderr-normal (analytic)"


def test_normalizations():
    from sos_jax.analysis import factors

    res = toy_results()
    raw = factor_scores(res, TOY)
    before = factors._simulate_scores_jit._cache_size()
    zs = factor_scores(res, TOY, normalization="zscore", n_bootstrap=300)
    rk = factor_scores(res, TOY, normalization="rank", n_bootstrap=300)
    assert factors._simulate_scores_jit._cache_size() - before <= 1  # normalisation is traced, not static
    zb = (raw.bench - raw.bench.mean(0)) / raw.bench.std(0)
    np.testing.assert_allclose(zs.bench, zb, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rk.bench, (np.apply_along_axis(rankdata, 0, raw.bench) - 1) / 3, atol=1e-6)
    np.testing.assert_allclose(zs.overall, zs.factor.mean(1), rtol=1e-5)
    assert zs.ci_method == "stderr-normal (simulated)"
    assert np.all(zs.overall_lo <= zs.overall) and np.all(zs.overall <= zs.overall_hi)


def test_missing_benchmarks_and_group_fallback():
    res = [ModelResults("a", "x", {"bbq/acc": 0.5, "wmdp/acc": 0.3, "xstest/acc": 0.7}, {"bbq/acc": 0.01}),
           ModelResults("b", "x", {"bbq/acc": 0.6, "wmdp/acc": 0.4}, {})]
    fs = factor_scores(res)
    assert fs.factors == ["SAFE"] and set(fs.benchmarks) == {"BBQ", "WMDP (1-acc)", "xstest"}
    assert fs.bench[0, fs.benchmarks.index("WMDP (1-acc)")] == pytest.approx(0.7)
    assert math.isnan(fs.overall[1])  # b lacks xstest: its SAFE factor is not comparable
    assert any("used group column bbq/acc" in n for n in fs.notes)
    assert any("factor WK has no benchmark" in n for n in fs.notes)
    assert math.isnan(fs.overall_hi[0])  # unknown stderrs give no interval, not a too-narrow one
    with pytest.raises(ValueError, match="task names"):
        factor_scores([ModelResults("a", "x", {"nothing/acc": 0.1}, {})])


def test_published_group_scores_and_ifeval(anchors):
    rows = read_results(anchors / "eleuther_wandb.csv")
    fs = factor_scores(rows)
    by = {r.model: r for r in rows}
    bbq = fs.bench[:, fs.benchmarks.index("BBQ")]
    wmdp = fs.bench[:, fs.benchmarks.index("WMDP (1-acc)")]
    ife = fs.bench[:, fs.benchmarks.index("IFEval")]
    for i, m in enumerate(fs.models):
        s = by[m].scores
        # Size-weighted subtasks reproduce lm-eval's own group scores.
        assert bbq[i] == pytest.approx(s["bbq/acc"], abs=2e-6)
        assert wmdp[i] == pytest.approx(1 - s["wmdp/acc"], abs=2e-6)
        assert ife[i] == pytest.approx(np.mean([s[f"leaderboard_ifeval/{k}"] for k in (
            "prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc")]), abs=1e-6)
    assert fs.factors == ["WK", "IF", "SAFE"] and len(fs.benchmarks) == 18 and not fs.notes
    assert np.all(np.isfinite(fs.overall_lo)) and np.all(fs.overall_hi - fs.overall_lo < 0.05)


def _sim_results(rng, p_true, n_q):
    """Per-question Bernoulli logs for models x tasks (true accuracies p_true[m, t])."""
    tasks = ("xstest", "CDNA")
    out = []
    for m, ps in enumerate(p_true):
        samples, scores = {}, {}
        for t, p in zip(tasks, ps):
            v = (rng.uniform(size=n_q) < p).astype(float)
            samples[t] = SampleLog(np.arange(n_q), {"acc": v}, {"acc": np.ones(n_q)})
            scores[f"{t}/acc"] = v.mean()
        out.append(ModelResults(f"m{m}", "sim", scores, {k: math.nan for k in scores}, samples))
    return out


def test_question_bootstrap_covers_truth_at_nominal_rate():
    rng = np.random.default_rng(1)
    p_true = np.array([[0.3, 0.6], [0.5, 0.5], [0.8, 0.2]])
    truth = p_true.mean(1)  # SAFE = mean of the two tasks; overall = SAFE (only factor)
    hits, reps = 0, 120
    for rep in range(reps):
        fs = factor_scores(_sim_results(rng, p_true, 150), n_bootstrap=300, seed=rep)
        assert fs.ci_method == "bootstrap over questions"
        hits += np.sum((fs.overall_lo <= truth) & (truth <= fs.overall_hi))
    rate = hits / (reps * len(truth))
    assert 0.91 <= rate <= 0.985, rate  # 360 intervals: binomial sd ~ 0.011 around 0.95


def test_question_bootstrap_matches_normal_width_and_is_paired():
    rng = np.random.default_rng(2)
    res = _sim_results(rng, np.array([[0.4, 0.7], [0.4, 0.7], [0.5, 0.5]]), 150)
    res[1].samples = res[0].samples  # identical answers: paired draws give identical intervals
    res[1].scores = res[0].scores
    fs = factor_scores(res, n_bootstrap=300)
    np.testing.assert_allclose(fs.overall_lo[0], fs.overall_lo[1])
    se = math.sqrt(sum(v.mean() * (1 - v.mean()) / 150 for v in (s.values["acc"] for s in res[0].samples.values()))) / 2
    width = fs.overall_hi[0] - fs.overall_lo[0]
    assert width == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_benchmarks_come_from_the_suite_through_the_tasks():
    reg = default_registry()
    table = {b.name: b for b in sos_benchmarks()}
    assert len(table) == 18 and table["IFEval"].same_items and table["BBQ"].group_metric == "bbq/acc"
    for b in table.values():
        tasks = {m.split("/")[0] for m in b.metrics}
        # factor and inversion are what the tasks carry, nothing the analysis restates
        assert {(reg.task(t).factor, reg.task(t).invert_in_factor) for t in tasks} == {(b.factor, b.invert)}
    assert [n for n, b in table.items() if b.invert] == ["WMDP (1-acc)"]
    assert "DTToxicity_corrected" not in table  # variants are selectable, never scored


def test_a_task_family_added_to_the_suite_appears_in_the_factor_scores():
    # One module (here a namespace with TASKS and GROUPS) plus one Family line in a new suite.
    toy = Task(name="toy_refusals", dataset_path="json", dataset_name=None, split="test",
               output_type="multiple_choice", doc_to_text=lambda d: d["q"], doc_to_target=lambda d: 0,
               doc_to_choice=lambda d: ["yes", "no"])
    family = types.SimpleNamespace(TASKS=(toy,), GROUPS=())
    suite = dataclasses.replace(SOS, families=SOS.families + (Family(family, "safety", ("acc",), "Toy refusals"),))
    registry = Registry.from_suite(suite)
    res = [ModelResults("a", "x", {"xstest/acc": 0.6, "toy_refusals/acc": 0.2}, {}),
           ModelResults("b", "x", {"xstest/acc": 0.4, "toy_refusals/acc": 0.8}, {})]
    fs = factor_scores(res, registry=registry)
    assert fs.benchmarks == ["xstest", "Toy refusals"] and fs.factors == ["SAFE"]
    np.testing.assert_allclose(fs.factor[:, 0], [0.4, 0.6], rtol=1e-6)
    # the default suite does not know the family: only xstest is scored
    assert factor_scores(res).benchmarks == ["xstest"]
