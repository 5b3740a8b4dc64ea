"""Sharding rules, placement on a data x model mesh, and sharded == unsharded numerics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrun import auto_axes, batch_sharding, make_mesh
from sos_jax.models import cache_specs, init_cache, load_pretrained, partition_specs, shard_model
from sos_jax.models.sharding import param_path, spec_for

from .hf_reference import causal_mask, padded_batch


@pytest.fixture(scope="module")
def explicit_mesh(devices):
    """A sharding-in-types mesh, as `jax.make_mesh` gives on JAX 0.10."""
    return make_mesh(data=4, model=2, explicit=True)


@pytest.fixture(scope="module")
def mesh(explicit_mesh):
    return auto_axes(explicit_mesh)


def _flat_specs(specs):
    return {param_path(kp): s for kp, s in jax.tree_util.tree_leaves_with_path(specs, is_leaf=lambda x: isinstance(x, P))}


def test_rule_table(make_tiny_hf_model):
    model, _ = load_pretrained(make_tiny_hf_model("llama"))
    specs = _flat_specs(partition_specs(model))
    assert specs[("layers", 0, "attn", "q", "kernel")] == P(None, "model")
    assert specs[("layers", 0, "attn", "k", "kernel")] == P(None, "model")
    assert specs[("layers", 1, "attn", "o", "kernel")] == P("model", None)
    assert specs[("layers", 0, "mlp", "gate", "kernel")] == P(None, "model")
    assert specs[("layers", 0, "mlp", "down", "kernel")] == P("model", None)
    assert specs[("layers", 0, "attn_norm", "weight")] == P()
    assert specs[("embed", "embedding")] == P("model", None)
    assert specs[("lm_head", "kernel")] == P(None, "model")
    # an axis size that does not divide a dimension replicates that dimension
    assert spec_for(("layers", 0, "attn", "k", "kernel"), (64, 32), model_axis_size=3) == P(None, None)
    with pytest.raises(ValueError, match="no sharding rule for parameter layers.0.attn.rotary.kernel"):
        spec_for(("layers", 0, "attn", "rotary", "kernel"), (4, 4))


@nnx.jit
def _forward(model, tokens, positions, mask):
    return model(tokens, positions, mask)[0]


@pytest.mark.parametrize("model_type", ["llama", "gpt2", "gpt_neox"])
def test_sharded_load_equals_unsharded(make_tiny_hf_model, mesh, explicit_mesh, model_type):
    """data 4 x model 2: q/k/v split by heads (NeoX reads only its heads from the fused tensor);
    GPT-2 has a tied head on the vocab-sharded embedding."""
    directory = make_tiny_hf_model(model_type)
    plain, cfg = load_pretrained(directory)
    sharded, _ = load_pretrained(directory, mesh=explicit_mesh)
    q = sharded.layers[0].attn.q.kernel.value
    assert q.sharding.spec == P(None, "model")
    assert {s.data.shape for s in q.addressable_shards} == {(cfg.hidden_size, cfg.num_heads * cfg.head_dim // 2)}
    np.testing.assert_array_equal(np.asarray(q), np.asarray(plain.layers[0].attn.q.kernel.value))

    tokens, valid, positions = padded_batch(batch=8, length=12, seed=11)
    mask = causal_mask(valid)
    ref = np.asarray(_forward(plain, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(mask)))
    def put(x):
        return jax.device_put(jnp.asarray(x), batch_sharding(mesh, x.ndim))

    out = _forward(sharded, put(tokens), put(positions), put(mask))
    assert np.abs(np.asarray(out) - ref)[valid].max() < 1e-5


def test_shard_model_places_existing_model(make_tiny_hf_model, mesh):
    model, _ = load_pretrained(make_tiny_hf_model("llama"))
    before = np.asarray(model.layers[1].mlp.down.kernel.value)
    model = shard_model(model, mesh)
    down = model.layers[1].mlp.down.kernel.value
    assert isinstance(down.sharding, NamedSharding) and down.sharding.spec == P("model", None)
    np.testing.assert_array_equal(np.asarray(down), before)


def test_sharded_kv_cache_decoding_equals_unsharded(make_tiny_hf_model, mesh):
    directory = make_tiny_hf_model("llama")
    plain, cfg = load_pretrained(directory)
    sharded, _ = load_pretrained(directory, mesh=mesh)
    specs = cache_specs(cfg.num_kv_heads, model_axis_size=2)
    assert specs.k == P(None, "data", "model", None, None)

    @nnx.jit
    def step(model, tokens, positions, mask, cache, index):
        return model(tokens, positions, mask, cache=cache, cache_index=index)

    tokens, valid, positions = padded_batch(batch=4, length=6, seed=2)
    valid[:] = True
    positions = np.broadcast_to(np.arange(6, dtype=np.int32), (4, 6)).copy()
    mask = np.broadcast_to(np.tril(np.ones((6, 8), bool)), (4, 6, 8)).copy()
    shardings = jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda s: isinstance(s, P))
    cache = jax.device_put(init_cache(cfg, 4, 8), shardings)
    out, cache = step(sharded, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(mask), cache, jnp.int32(0))
    ref, _ = step(plain, jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(mask), init_cache(cfg, 4, 8), jnp.int32(0))
    assert np.abs(np.asarray(out) - np.asarray(ref)).max() < 1e-5
