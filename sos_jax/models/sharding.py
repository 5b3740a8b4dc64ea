"""Tensor-parallel sharding rules: a table from parameter path to PartitionSpec, and placement.

Rules (mesh axis `model`; batches go over `data` and are the engine's business):
  q/k/v kernels [hidden, heads*head_dim] and gate/up/fc kernels [hidden, ffn]: column-sharded
      (heads / MLP hidden split over `model`), their biases sharded the same way;
  o/down/proj kernels [in, hidden]: row-sharded (XLA inserts the all-reduce), biases replicated;
  token and learned position embeddings [rows, hidden]: sharded on rows (vocab / positions): a
      lookup costs one [B, T, hidden] all-reduce, and a tied head (x @ embedding.T) then yields
      vocab-sharded logits with no [B, T, vocab] all-reduce;
  lm_head kernel [hidden, vocab]: sharded on vocab (logits come out vocab-sharded);
  norms: replicated.
A dimension that the `model` axis does not divide is replicated instead (still correct, only less
parallel), so tiny test models with odd sizes shard without special cases. Stacked layer parameters
(`scan_layers=True`: path `layers.<module>.<param>` with no layer index) have a leading layer axis,
never sharded.

FSDP (optional, `fsdp_axis="data"`): each matrix also shards its first dimension that neither the
rule nor the layer axis uses over `data`, when `data` divides it, so a chip stores 1/(data x model)
of the weights; XLA all-gathers a layer's weights where they are used (inside the scan body, one
layer at a time). Off by default: inference with small models is faster replicated over `data`.

Parameters are placed on an Auto-axes view of the given mesh (same devices and axis names):
`jax.make_mesh` gives Explicit axes in JAX 0.10, under which the model's gathers and mixed-sharding
ops would need explicit output shardings; with Auto axes XLA's partitioner inserts the collectives.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrun import DATA_AXIS, MODEL_AXIS, auto_axes
from sos_jax.models.cache import KVCache

# (module name, parameter name) -> the mesh-axis placeholder per dim; "M" stands for the model axis.
_RULES: dict[tuple[str, str], tuple[str | None, ...]] = {
    ("q", "kernel"): (None, "M"),
    ("k", "kernel"): (None, "M"),
    ("v", "kernel"): (None, "M"),
    ("q", "bias"): ("M",),
    ("k", "bias"): ("M",),
    ("v", "bias"): ("M",),
    ("o", "kernel"): ("M", None),
    ("o", "bias"): (None,),
    ("gate", "kernel"): (None, "M"),
    ("up", "kernel"): (None, "M"),
    ("fc", "kernel"): (None, "M"),
    ("gate", "bias"): ("M",),
    ("up", "bias"): ("M",),
    ("fc", "bias"): ("M",),
    ("down", "kernel"): ("M", None),
    ("proj", "kernel"): ("M", None),
    ("down", "bias"): (None,),
    ("proj", "bias"): (None,),
    ("embed", "embedding"): ("M", None),
    ("pos_embed", "embedding"): ("M", None),
    ("lm_head", "kernel"): (None, "M"),
}
_NORMS = ("attn_norm", "mlp_norm", "final_norm")


def param_path(keypath: tuple) -> tuple:
    """Returns a jax key path of an NNX state leaf as plain names/ints, without the `.value` suffix."""
    out = []
    for key in keypath:
        if isinstance(key, jax.tree_util.DictKey):
            out.append(key.key)
        elif isinstance(key, jax.tree_util.SequenceKey):
            out.append(key.idx)
        elif isinstance(key, jax.tree_util.GetAttrKey):
            if key.name != "value":
                out.append(key.name)
        else:
            out.append(str(key))
    return tuple(out)


def is_stacked(path: tuple) -> bool:
    """True for a parameter of the scanned layout's stacked block (`layers.attn.q.kernel`, no index)."""
    return len(path) > 1 and path[0] == "layers" and not isinstance(path[1], int)


def spec_for(
    path: tuple,
    shape: tuple[int, ...],
    *,
    model_axis: str = MODEL_AXIS,
    model_axis_size: int | None = None,
    fsdp_axis: str | None = None,
    fsdp_axis_size: int | None = None,
) -> P:
    """Returns the PartitionSpec of the parameter at `path` with `shape` (see the module rules)."""
    names = [p for p in path if isinstance(p, str)]
    stacked = is_stacked(path)
    if len(names) >= 2 and names[-2] in _NORMS:
        return P()
    rule = _RULES.get(tuple(names[-2:]))
    if rule is None:
        raise ValueError(f"no sharding rule for parameter {'.'.join(map(str, path))} with shape {shape}")
    if stacked:
        rule = (None, *rule)
    if len(rule) != len(shape):
        raise ValueError(f"sharding rule for {'.'.join(map(str, path))} expects {len(rule)} dims, got shape {shape}")
    axes = []
    for dim, axis in zip(shape, rule):
        if axis == "M" and (model_axis_size is None or dim % model_axis_size == 0):
            axes.append(model_axis)
        else:
            axes.append(None)
    if fsdp_axis is not None and len(shape) - stacked >= 2:
        for d in range(int(stacked), len(shape)):
            if axes[d] is None and (fsdp_axis_size is None or shape[d] % fsdp_axis_size == 0):
                axes[d] = fsdp_axis
                break
    return P(*axes)


def partition_specs(
    model_or_state: Any,
    *,
    model_axis: str = MODEL_AXIS,
    model_axis_size: int | None = None,
    fsdp_axis: str | None = None,
    fsdp_axis_size: int | None = None,
) -> Any:
    """Returns a pytree of PartitionSpec shaped like `nnx.state(model)` (or the given state).

    With `model_axis_size` (`fsdp_axis_size`), dimensions it does not divide are not sharded on it.
    """
    state = nnx.state(model_or_state) if isinstance(model_or_state, nnx.Module) else model_or_state
    return jax.tree_util.tree_map_with_path(
        lambda kp, x: spec_for(
            param_path(kp), tuple(x.shape), model_axis=model_axis, model_axis_size=model_axis_size,
            fsdp_axis=fsdp_axis, fsdp_axis_size=fsdp_axis_size,
        ),
        state,
    )


def param_shardings(state: Any, mesh: Mesh, *, model_axis: str = MODEL_AXIS, fsdp_axis: str | None = None) -> Any:
    """Returns a pytree of NamedSharding (on the Auto-axes view of `mesh`) shaped like `state`.

    `fsdp_axis` (e.g. "data") additionally shards each matrix over that mesh axis (FSDP).
    """
    size = mesh.shape[model_axis] if model_axis in mesh.shape else None
    if size is None:
        raise ValueError(f"mesh has axes {tuple(mesh.shape)}; expected a {model_axis!r} axis")
    if fsdp_axis is not None and fsdp_axis not in mesh.shape:
        raise ValueError(f"mesh has axes {tuple(mesh.shape)}; no FSDP axis {fsdp_axis!r}")
    fsdp_size = mesh.shape[fsdp_axis] if fsdp_axis is not None else None
    specs = partition_specs(
        state, model_axis=model_axis, model_axis_size=size, fsdp_axis=fsdp_axis, fsdp_axis_size=fsdp_size
    )
    mesh = auto_axes(mesh)
    return jax.tree_util.tree_map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda s: isinstance(s, P))


def shard_model(
    model: nnx.Module, mesh: Mesh, *, model_axis: str = MODEL_AXIS, fsdp_axis: str | None = None
) -> nnx.Module:
    """Returns `model` with every parameter placed on NamedSharding(mesh, its rule's spec)."""
    graphdef, state = nnx.split(model)
    state = jax.device_put(state, param_shardings(state, mesh, model_axis=model_axis, fsdp_axis=fsdp_axis))
    return nnx.merge(graphdef, state)


def cache_specs(num_kv_heads: int, *, model_axis_size: int = 1, data_axis: str = DATA_AXIS, model_axis: str = MODEL_AXIS) -> KVCache:
    """Returns a KVCache of PartitionSpecs: rows over `data`, kv heads over `model` when it divides them."""
    heads = model_axis if num_kv_heads % model_axis_size == 0 else None
    kv = P(None, data_axis, heads, None, None)
    return KVCache(k=kv, v=kv, key_positions=P(data_axis, None))
