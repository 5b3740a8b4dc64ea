import jax
import numpy as np
import pytest

from sos_jax.analysis.bootstrap import pack_question_data, question_means, resample_slots
from sos_jax.analysis.ingest import ModelResults, SampleLog


def _merged():
    rng = np.random.default_rng(0)
    out = {}
    for m in ("a", "b"):
        n_inst = rng.integers(1, 4, size=7).astype(float)  # instructions per prompt
        ife = SampleLog(np.arange(7)[::-1], {"p": (rng.uniform(size=7) < 0.5).astype(float),
                                             "i": np.floor(rng.uniform(size=7) * (n_inst + 1))},
                        {"p": np.ones(7), "i": n_inst})
        xs = SampleLog(np.arange(5), {"acc": rng.uniform(size=5)}, {"acc": np.ones(5)})
        out[m] = ModelResults(m, "t", {}, {}, {"ife": ife, "xs": xs})
    # Same prompts, so the same instruction counts for both models (in doc_id order).
    out["b"].samples["ife"].weights["i"] = out["a"].samples["ife"].weights["i"]
    return out


def test_pack_and_means_match_numpy():
    merged = _merged()
    cols = ["ife/p", "xs/acc", "ife/i"]
    qd = pack_question_data(["a", "b"], cols, merged)
    assert qd.tasks == ["ife", "xs"] and sorted(qd.col_index.tolist()) == [0, 1, 2]
    means = np.asarray(question_means(qd.num, qd.den, qd.slot_stream, len(qd.col_index)))
    for j, p in enumerate(qd.col_index):
        task, _, metric = cols[p].partition("/")
        for mi, m in enumerate(("a", "b")):
            assert means[mi, j] == pytest.approx(merged[m].samples[task].metric(metric), rel=1e-6)


def test_one_draw_per_task_shared_by_its_metrics():
    qd = pack_question_data(["a", "b"], ["ife/p", "ife/i", "xs/acc"], _merged())
    draw = jax.jit(resample_slots, static_argnames="n_questions")
    for seed in range(5):
        idx = np.asarray(draw(jax.random.key(seed), qd.slot_stream, qd.stream_offset, qd.stream_size, qd.u_offset,
                              n_questions=qd.n_questions))
        picks = []
        for off, n in zip(qd.stream_offset, qd.stream_size):
            chosen = idx[off: off + n]
            assert np.all((chosen >= off) & (chosen < off + n))  # never leaves its own stream
            picks.append(chosen - off)
        np.testing.assert_array_equal(picks[0], picks[1])  # IFEval-style metrics: same questions
        pad = np.arange(len(idx))[qd.slot_stream == len(qd.col_index)]
        np.testing.assert_array_equal(idx[pad], pad)
