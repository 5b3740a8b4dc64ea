"""The scanned (stacked-layer) decoder layout against the per-layer one: identical logits and caches,
loading straight into the stacked layout, and the sharding rules' layer axis and FSDP option."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from jaxrun import make_mesh
from sos_jax.models import build_model, init_cache, load_pretrained, partition_specs
from sos_jax.models.config import config_from_hf
from sos_jax.models.random_init import hf_config_dict

from .hf_reference import causal_mask, padded_batch

# (model_type, overrides, max |difference|): GQA llama; Mistral's window; GPT-2 with per-layer
# attention scales (inverse layer index) and a tied head: bit-identical. Qwen2 (q/k/v biases,
# windowed and full layers mixed): XLA:CPU fuses the biased projections differently inside the
# loop body, measured at 1-2 float32 ulps (1.5e-7) of the logits, hence the tolerance.
CASES = [
    ("llama", {}, 0.0),
    ("mistral", dict(sliding_window=3), 0.0),
    ("gpt2", dict(scale_attn_by_inverse_layer_idx=True), 0.0),
    ("qwen2", dict(use_sliding_window=True, sliding_window=3, max_window_layers=1), 1e-6),
]


@nnx.jit
def _step(model, tokens, positions, mask, cache, index):
    return model(tokens, positions, mask, cache=cache, cache_index=index)


@nnx.jit
def _forward(model, tokens, positions, mask):
    return model(tokens, positions, mask)[0]


@pytest.mark.parametrize("model_type,overrides,tol", CASES, ids=[c[0] for c in CASES])
def test_scanned_layers_give_identical_logits_and_cache(model_type, overrides, tol):
    depth = {"n_layer" if model_type == "gpt2" else "num_hidden_layers": 3}
    cfg = config_from_hf(hf_config_dict(model_type, "tiny", 512, **depth, **overrides))
    per_layer = build_model(cfg)
    scanned = build_model(cfg, scan_layers=True)
    # Same random weights, stacked: layer 2 of the stack is layer 2 of the list.
    np.testing.assert_array_equal(np.asarray(scanned.layers.mlp_norm.weight.value[2]),
                                  np.asarray(per_layer.layers[2].mlp_norm.weight.value))
    tokens, valid, positions = padded_batch(length=12)
    args = jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))
    a, b = np.asarray(_forward(per_layer, *args)), np.asarray(_forward(scanned, *args))
    assert np.abs(a - b).max() <= tol
    assert a[valid].std() > 0.01

    cache = init_cache(cfg, tokens.shape[0], 16)
    mask = jnp.asarray(np.arange(16)[None, None, :] <= np.arange(5)[None, :, None]).repeat(tokens.shape[0], 0)
    la, ca = _step(per_layer, args[0][:, :5], args[1][:, :5], mask, cache, jnp.int32(0))
    lb, cb = _step(scanned, args[0][:, :5], args[1][:, :5], mask, cache, jnp.int32(0))
    assert np.abs(np.asarray(la) - np.asarray(lb)).max() <= tol
    assert np.abs(np.asarray(ca.k) - np.asarray(cb.k)).max() <= tol
    assert np.abs(np.asarray(ca.v) - np.asarray(cb.v)).max() <= tol


def test_scanned_program_holds_one_layer_body():
    """The lowered program's size does not grow with depth (what keeps compile time flat)."""
    def text_size(layers, scan):
        cfg = config_from_hf(hf_config_dict("llama", "tiny", 512, num_hidden_layers=layers))
        model = nnx.eval_shape(lambda: build_model(cfg, scan_layers=scan))
        graphdef, state = nnx.split(model)
        tok = jax.ShapeDtypeStruct((2, 8), jnp.int32)
        mask = jax.ShapeDtypeStruct((2, 8, 8), bool)
        f = jax.jit(lambda s, t, m: nnx.merge(graphdef, s)(t, t, m)[0])
        return len(f.lower(state, tok, mask).as_text())

    assert text_size(16, True) < 1.05 * text_size(2, True)
    assert text_size(16, False) > 4 * text_size(2, False)


def test_load_pretrained_into_scanned_layout_matches(make_tiny_hf_model):
    directory = make_tiny_hf_model("llama")
    per_layer, cfg = load_pretrained(directory)
    mesh = make_mesh(model=2)
    scanned, _ = load_pretrained(directory, mesh=mesh, scan_layers=True)
    k = scanned.layers.attn.k.kernel.value
    assert k.shape == (cfg.num_layers, cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim)
    assert k.sharding.spec == P(None, None, "model")
    np.testing.assert_array_equal(np.asarray(k[1]), np.asarray(per_layer.layers[1].attn.k.kernel.value))
    tokens, valid, positions = padded_batch(length=12)
    args = jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid))
    np.testing.assert_allclose(np.asarray(_forward(scanned, *args)), np.asarray(_forward(per_layer, *args)),
                               rtol=0, atol=1e-5)


def test_fsdp_rule_shards_free_matrix_dims_over_data():
    cfg = config_from_hf(hf_config_dict("llama", "tiny", 512))
    state = nnx.state(nnx.eval_shape(lambda: build_model(cfg, scan_layers=True)))
    specs = partition_specs(state, model_axis_size=2, fsdp_axis="data", fsdp_axis_size=4)
    assert specs["layers"]["attn"]["q"]["kernel"] == P(None, "data", "model")
    assert specs["layers"]["mlp"]["down"]["kernel"] == P(None, "model", "data")
    assert specs["embed"]["embedding"] == P("model", "data")
    assert specs["layers"]["attn_norm"]["weight"] == P()


def test_bf16_weights_give_float32_logits_from_the_head_matmul():
    cfg = config_from_hf(hf_config_dict("llama", "tiny", 512))
    model = build_model(cfg, dtype=jnp.bfloat16, scan_layers=True)
    assert model.layers.attn.q.kernel.value.dtype == jnp.bfloat16
    tokens, valid, positions = padded_batch(length=12)
    logits = _forward(model, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(causal_mask(valid)))
    assert logits.dtype == jnp.float32
    # Not bf16 values widened: the head accumulates and returns float32.
    rounded = logits.astype(jnp.bfloat16).astype(jnp.float32)
    assert float(jnp.mean(logits != rounded)) > 0.5
