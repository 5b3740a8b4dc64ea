"""The engine planner: the engine's kernels compiled ahead of time for TPU topologies on this host,
memory and fit for a small model and for the Llama-3-8B preset's abstract shapes, FLOPs against a
hand count, the fit search, and model specs from presets, config.json and GGUF headers."""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

from jaxrun import make_mesh
from jaxrun.aot import GIB
from sos_jax.engine import plan
from sos_jax.models.config import config_from_hf

pytest.importorskip("libtpu", reason="TPU topologies need libtpu (the test extra installs jax[tpu])")
from jaxrun.aot import target_devices  # noqa: E402

# A small Llama whose matmuls dominate (head_dim 128), so the hand count is a tight check.
SMALL = dict(model_type="llama", vocab_size=8192, hidden_size=1024, num_hidden_layers=4, num_attention_heads=8,
             num_key_value_heads=2, intermediate_size=2816, max_position_embeddings=4096)


@pytest.fixture(scope="module")
def v5e_2x2():
    return make_mesh(model=4, devices=target_devices("v5e:2x2"))


def test_small_model_kernels_fit_v5e_2x2_and_a_multihost_v5e_4x4(v5e_2x2):
    cfg = config_from_hf(SMALL)
    weights = plan.parameter_count(cfg) * 2  # bf16
    shapes = plan.Shapes(score_rows=4, row_len=512, gen_rows=8, prompt_len=256, max_new=64, prefixes=2, prefix_len=256)
    for kernel in plan.KERNELS + plan.SCORING:
        report = plan.compile_kernel(cfg, v5e_2x2, shapes, kernel)
        assert report.fits, kernel
        # Tensor parallel over 4 chips: each holds a quarter of the weights (plus small inputs;
        # the decode state adds the KV cache).
        assert weights / 4 <= report.argument_bytes < weights / 4 * 1.2 + (8 << 20), kernel
    pod = make_mesh(model=4, devices=target_devices("v5e:4x4"))  # 4 hosts, data axis 4
    report = plan.compile_kernel(cfg, pod, shapes, "score")
    assert report.fits and weights / 4 <= report.argument_bytes < weights / 4 * 1.2


def test_corrected_flops_agree_with_hand_count(v5e_2x2):
    cfg = config_from_hf(SMALL)
    shapes = plan.Shapes(score_rows=4, row_len=512)
    scanned = plan.compile_kernel(cfg, v5e_2x2, shapes, "score")
    total = plan.corrected_flops(cfg, v5e_2x2, shapes, "score") * 4  # per chip -> 4 chips
    hand = plan.hand_count_score_flops(cfg, 4, 512)
    assert abs(total / hand - 1) < 0.02
    # What the correction is for: the scanned program reports one layer of the four.
    per_layer = (hand - plan.hand_count_score_flops(cfg.replace(num_layers=0), 4, 512)) / 4
    assert scanned.flops * 4 == pytest.approx(total - 3 * per_layer, rel=0.05)


def test_llama3_8b_preset_fits_v5e_2x2_but_not_a_huge_batch(v5e_2x2):
    cfg = plan.model_config("llama3-8b")
    n = plan.parameter_count(cfg)
    assert 8.0e9 < n < 8.1e9
    report = plan.compile_kernel(cfg, v5e_2x2, plan.Shapes(score_rows=1, row_len=512), "score")
    assert report.fits
    assert report.argument_bytes == pytest.approx(n * 2 / 4, rel=0.01)  # bf16, a quarter per chip
    assert 3.7 * GIB < report.peak_bytes < 5 * GIB
    huge = plan.compile_kernel(cfg, v5e_2x2, plan.Shapes(score_rows=16, row_len=8192), "score")
    assert not huge.fits and "RESOURCE_EXHAUSTED" in huge.error


def test_largest_score_rows_is_found_by_compiling(v5e_2x2):
    cfg = config_from_hf(dict(SMALL, hidden_size=128, num_hidden_layers=1, intermediate_size=256,
                              num_attention_heads=2, num_key_value_heads=1, vocab_size=1024))
    shapes = plan.Shapes(score_rows=1, row_len=128)
    peak = {r: plan.compile_kernel(cfg, v5e_2x2, dataclasses.replace(shapes, score_rows=r), "score").peak_bytes
            for r in (2, 4)}
    assert peak[4] > peak[2]
    limit = (peak[2] + peak[4]) // 2
    rows, tried = plan.largest_score_rows(cfg, v5e_2x2, shapes, memory_limit=limit)
    assert rows in (2, 3) and tried[rows].fits and tried[rows].peak_bytes <= limit
    assert not tried[rows + 1].fits


def test_model_specs_from_preset_config_json_and_gguf_header(tmp_path):
    assert plan.model_config("llama3-8b").num_kv_heads == 8
    (tmp_path / "config.json").write_text(json.dumps(SMALL))
    assert plan.model_config(str(tmp_path)).hidden_size == 1024
    assert plan.model_config(str(tmp_path / "config.json")).num_layers == 4
    with pytest.raises(FileNotFoundError, match="not a preset"):
        plan.model_config(str(tmp_path / "missing.json"))

    gguf = pytest.importorskip("gguf")
    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(3)
    w.add_embedding_length(64)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_context_length(512)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(300)
    w.add_tensor("token_embd.weight", np.zeros((300, 64), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    cfg = plan.model_config(str(path))
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_kv_heads, cfg.vocab_size) == (3, 64, 2, 300)
    assert cfg.tie_word_embeddings  # no output.weight tensor


def test_engine_auto_batch_keeps_the_default_on_cpu_and_scans_alike(llama_dir):
    from sos_jax.engine import Engine

    mesh = make_mesh(model=1)
    scanned = Engine.from_pretrained(llama_dir, mesh, max_batch_tokens="auto", scan_layers=True)
    assert scanned.max_batch_tokens == 8192  # no device memory limit to size against on CPUs
    requests = [("The answer is", " yes"), ("The answer is", " no"), ("Water is", " wet and cold")]
    got = np.array([ll for ll, _ in scanned.loglikelihood(requests)])
    want = np.array([ll for ll, _ in Engine.from_pretrained(llama_dir, mesh).loglikelihood(requests)])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_auto_batch_shrinks_until_rows_after_cached_prefixes_fit(v5e_2x2, monkeypatch):
    import jaxrun.aot

    cfg = config_from_hf(dict(SMALL, hidden_size=128, num_hidden_layers=1, intermediate_size=256,
                              num_attention_heads=2, num_key_value_heads=1, vocab_size=1024))
    graphdef, state = plan.abstract_model(cfg, v5e_2x2, dtype=jnp.float32, scan_layers=False)

    def peak(kernel, rows):
        shapes = plan.Shapes(score_rows=rows, row_len=512, prefix_len=512)
        return plan.compile_kernel(cfg, v5e_2x2, shapes, kernel, dtype=jnp.float32, scan_layers=False).peak_bytes

    # A memory limit the plain kernel fits at 8 rows but the prefix-cache kernel does not (at
    # 512-token rows; at 128 the prefix kernel's peak is the smaller one).
    assert peak("score_after_prefix", 8) > peak("score", 8)
    limit = (peak("score", 8) + peak("score_after_prefix", 8)) / 2 / 0.9
    monkeypatch.setattr(jaxrun.aot, "device_memory_limit", lambda device: int(limit))
    tokens = plan.auto_max_batch_tokens(graphdef, state, cfg, v5e_2x2, 512, dtype=jnp.float32, limit_rows=8)
    rows = tokens // 512
    assert 1 <= rows < 8 and peak("score_after_prefix", rows) <= limit * 0.9
