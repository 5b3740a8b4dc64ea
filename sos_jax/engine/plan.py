"""Ahead-of-time plans for the engine's kernels: memory per device, FLOPs, fit, and the largest batch.

The engine's own jitted scoring, prefill and decode kernels (`engine._kernels`) are lowered with
abstract parameters (`nnx.eval_shape`, no weights) placed by the models' sharding rules on a mesh
over the target's devices (`jaxrun.aot.target_devices`: a TPU topology compiled from this host, or
the local devices), compiled, and their `memory_analysis`/`cost_analysis` read back.

FLOPs: XLA's cost analysis counts a loop body once, so a scanned L-layer model reports the
non-layer work plus ONE layer. `corrected_flops` recompiles the same kernel for 1- and 2-layer
unrolled copies of the model (seconds) and returns f1 + (L - 1) * (f2 - f1). The decode kernel's
`while_loop` is counted once too: its figure is one decode step, feeding one token a row (the
engine's greedy steps also feed `gen_lookahead` drafts a row: a wider step, fewer of them).

Models are named by a preset (`PRESETS`, e.g. llama3-8b), a Hugging Face config.json (or the
directory holding it), or a GGUF file, of which only the header is read.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxrun import DATA_AXIS, MODEL_AXIS, auto_axes, replicated, round_up
from jaxrun.aot import CompileReport, compile_report, largest_fitting
from sos_jax.engine import generation
from sos_jax.engine.packing import PREFIX_CHUNK
from sos_jax.models import ModelConfig, build_model, cache_specs, config_from_hf, gguf_config, param_shardings

# Published config.json files (the fields the decoder reads), so planning needs no download.
PRESETS: dict[str, dict[str, Any]] = {
    "llama3-8b": dict(
        model_type="llama", vocab_size=128256, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, intermediate_size=14336, max_position_embeddings=8192, rope_theta=500000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001,
    ),
    "mistral-7b": dict(
        model_type="mistral", vocab_size=32000, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, intermediate_size=14336, max_position_embeddings=32768, rope_theta=1000000.0,
        rms_norm_eps=1e-5, sliding_window=None, tie_word_embeddings=False,
    ),
    "smollm2-135m": dict(
        model_type="llama", vocab_size=49152, hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, intermediate_size=1536, max_position_embeddings=8192, rope_theta=100000.0,
        rms_norm_eps=1e-5, tie_word_embeddings=True,
    ),
}


def model_config(model: str) -> ModelConfig:
    """Returns the ModelConfig of a preset name, a config.json (or its directory) or a GGUF file."""
    if model in PRESETS:
        return config_from_hf(PRESETS[model])
    path = Path(model).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if path.suffix == ".gguf" and path.is_file():
        return gguf_config(path)
    if path.is_file():
        try:
            return config_from_hf(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from err
    raise FileNotFoundError(
        f"model {model!r}: not a preset ({', '.join(sorted(PRESETS))}), a config.json, its directory, or a .gguf file"
    )


def abstract_model(
    cfg: ModelConfig, mesh: Mesh, *, dtype=jnp.bfloat16, scan_layers: bool = True, fsdp: bool = False
) -> tuple[Any, Any]:
    """Returns (graphdef, state of ShapeDtypeStructs carrying their shardings on `mesh`): no weights."""
    model = nnx.eval_shape(lambda: build_model(cfg, dtype=dtype, scan_layers=scan_layers))
    graphdef, state = nnx.split(model)
    shardings = param_shardings(state, mesh, fsdp_axis=DATA_AXIS if fsdp else None)
    abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
    return graphdef, abstract


@dataclasses.dataclass(frozen=True)
class Shapes:
    """The batch shapes one engine run compiles (see `Engine`: packing and generation buckets)."""

    score_rows: int = 4
    row_len: int = 2048
    score_slots: int = 8  # request slots per packed row
    cont_len: int = 8  # tokens per scored continuation
    prefixes: int = PREFIX_CHUNK  # cached shared prefixes (few-shot blocks) one scoring step reads
    prefix_len: int = 2048
    gen_rows: int = 16
    prompt_len: int = 1024
    max_new: int = 256


def _data(mesh: Mesh, shape: tuple[int, ...], dtype) -> jax.ShapeDtypeStruct:
    spec = P(DATA_AXIS, *([None] * (len(shape) - 1)))
    return jax.ShapeDtypeStruct(shape, dtype, sharding=NamedSharding(mesh, spec))


def _lowerers(cfg: ModelConfig, mesh: Mesh, shapes: Shapes, graphdef: Any, state: Any, dtype):
    """Returns {kernel name: () -> Lowered} for the engine's scoring, prefill and decode kernels
    of the model (`graphdef`, `state` of arrays or ShapeDtypeStructs with shardings) on `mesh`."""
    from sos_jax.engine.engine import _kernels  # the engine's own kernels, not a copy

    mesh = auto_axes(mesh)
    kernels = _kernels(graphdef, cfg, dtype, mesh)
    b, t, n, c = shapes.score_rows, shapes.row_len, shapes.score_slots, shapes.cont_len
    score_args = [_data(mesh, (b, t), jnp.int32) for _ in range(4)]
    score_args += [_data(mesh, (b, n, c), jnp.int32), _data(mesh, (b, n, c), jnp.int32), _data(mesh, (b, n, c), bool)]

    g, p, new = shapes.gen_rows, shapes.prompt_len, shapes.max_new
    params = generation.SamplingParams(
        jax.ShapeDtypeStruct((), jnp.float32), jax.ShapeDtypeStruct((), jnp.float32), jax.ShapeDtypeStruct((), jnp.int32)
    )
    eos = jax.ShapeDtypeStruct((1,), jnp.int32)
    rep = replicated(mesh)
    specs = cache_specs(cfg.num_kv_heads, model_axis_size=mesh.shape[MODEL_AXIS])
    kv_shape = (cfg.num_layers, g, cfg.num_kv_heads, p + new, cfg.head_dim)
    cache = type(specs)(
        k=jax.ShapeDtypeStruct(kv_shape, dtype, sharding=NamedSharding(mesh, specs.k)),
        v=jax.ShapeDtypeStruct(kv_shape, dtype, sharding=NamedSharding(mesh, specs.v)),
        key_positions=jax.ShapeDtypeStruct((g, p + new), jnp.int32, sharding=NamedSharding(mesh, specs.key_positions)),
    )

    def rows(shape, dtype_):
        return jax.ShapeDtypeStruct(shape, dtype_, sharding=rep)

    # The continuous-batching decode state (`generation.DecodeState`) of `g` rows, as the engine holds it.
    state_in = generation.DecodeState(
        cache=cache, out=rows((g, new), jnp.int32), generated=rows((g,), jnp.int32), done=rows((g,), bool),
        length=rows((g,), jnp.int32), position=rows((g,), jnp.int32), keys=rows((g, 2), jnp.uint32),
        limit=rows((g,), jnp.int32), history=rows((g, p + new), jnp.int32), steps=rows((), jnp.int32),
    )
    # Prefill at its largest: every row takes a new prompt at once.
    entering = [_data(mesh, (g, p), jnp.int32), _data(mesh, (g,), jnp.int32), _data(mesh, (g,), jnp.int32),
                _data(mesh, (g, 2), jnp.uint32)]
    # Scoring rows that continue cached shared prefixes: the prefixes' K/V are extra arguments,
    # replicated over `data` (any row may read any of them) and split over heads like the cache.
    prefix_spec = NamedSharding(mesh, P(None, None, *specs.k[2:]))
    prefix_kv = jax.ShapeDtypeStruct(
        (cfg.num_layers, shapes.prefixes, cfg.num_kv_heads, shapes.prefix_len, cfg.head_dim), dtype, sharding=prefix_spec
    )
    prefix_args = [prefix_kv, prefix_kv, rows((shapes.prefixes,), jnp.int32), _data(mesh, (b,), jnp.int32)]
    return {
        "score": lambda: kernels.score.lower(state, *score_args),
        "score_after_prefix": lambda: kernels.score_after_prefix.lower(state, *prefix_args, *score_args),
        "prefill": lambda: kernels.prefill.lower(
            state, state_in, *entering, params, eos, _data(mesh, (g,), jnp.int32), do_sample=False,
        ),
        "decode": lambda: kernels.decode.lower(
            state, state_in, jax.ShapeDtypeStruct((), jnp.int32), jax.ShapeDtypeStruct((), bool), params, eos,
            do_sample=False,
        ),
    }


KERNELS = ("score", "prefill", "decode")
# Scoring rows that continue cached few-shot prefixes run at the same batch size as plain ones.
SCORING = ("score", "score_after_prefix")


def _with_layers(cfg: ModelConfig, n: int) -> ModelConfig:
    windows = None if cfg.sliding_window_layers is None else cfg.sliding_window_layers[:n]
    return cfg.replace(num_layers=n, sliding_window_layers=windows)


def compile_kernel(
    cfg: ModelConfig, mesh: Mesh, shapes: Shapes, kernel: str, *, dtype=jnp.bfloat16, scan_layers: bool = True,
    fsdp: bool = False, memory_limit: int | None = None,
) -> CompileReport:
    """Returns the compile report of one engine kernel ("score", "score_after_prefix", "prefill" or
    "decode") at `shapes`."""
    if kernel not in KERNELS + SCORING:
        raise ValueError(f"kernel must be one of {KERNELS + SCORING}, got {kernel!r}")
    graphdef, state = abstract_model(cfg, mesh, dtype=dtype, scan_layers=scan_layers, fsdp=fsdp)
    return compile_report(_lowerers(cfg, mesh, shapes, graphdef, state, dtype)[kernel], memory_limit)


def corrected_flops(
    cfg: ModelConfig, mesh: Mesh, shapes: Shapes, kernel: str, *, dtype=jnp.bfloat16, fsdp: bool = False
) -> float:
    """Returns the kernel's FLOPs per device with every layer counted (see the module doc)."""
    f1, f2 = (
        compile_kernel(_with_layers(cfg, n), mesh, shapes, kernel, dtype=dtype, scan_layers=False, fsdp=fsdp).flops
        for n in (1, 2)
    )
    return f1 + (cfg.num_layers - 1) * (f2 - f1)


def hand_count_score_flops(cfg: ModelConfig, rows: int, row_len: int) -> float:
    """Returns the matmul FLOPs of one scoring forward over rows x row_len tokens, counted by hand.

    2 FLOPs per multiply-add: every projection and the head (2 * params * tokens) plus attention's
    two [T, T] products per head (the kernel computes every query against every key; the mask
    only zeroes them).
    """
    h, hd, f = cfg.hidden_size, cfg.head_dim, cfg.intermediate_size
    attn_params = h * cfg.num_heads * hd * 2 + h * cfg.num_kv_heads * hd * 2
    mlp_params = h * f * (3 if cfg.mlp_type == "gated" else 2)
    tokens = rows * row_len
    per_token = 2 * (cfg.num_layers * (attn_params + mlp_params) + h * cfg.vocab_size)
    attention = cfg.num_layers * rows * 2 * 2 * row_len * row_len * cfg.num_heads * hd
    return per_token * tokens + attention


def largest_score_rows(
    cfg: ModelConfig, mesh: Mesh, shapes: Shapes, *, dtype=jnp.bfloat16, scan_layers: bool = True,
    fsdp: bool = False, memory_limit: int | None = None, limit_rows: int = 4096,
) -> tuple[int, dict[int, CompileReport]]:
    """Returns (the most packed rows of `shapes.row_len` one scoring step fits, {rows: report} tried).

    The search compiles the plain scoring kernel only: libtpu 0.0.42.1's compiler overflows its
    stack (SIGSEGV, killing the process) on the prefix-cache kernel for Llama-3-8B at 24 and 32
    rows of 2048 on v5e:2x2 (20 compiles), so that kernel is planned at the configured shapes
    (`plan_engine`) and its extra memory, the cached prefixes' K/V, stays within the headroom.

    Found by compiling (`jaxrun.aot.largest_fitting`), in multiples of the mesh's data axis.
    """
    tried: dict[int, CompileReport] = {}

    def fits(rows: int) -> bool:
        s = dataclasses.replace(shapes, score_rows=rows)
        tried[rows] = compile_kernel(cfg, mesh, s, "score", dtype=dtype, scan_layers=scan_layers, fsdp=fsdp,
                                     memory_limit=memory_limit)
        return tried[rows].fits

    best = largest_fitting(fits, shapes.score_rows, multiple=mesh.shape[DATA_AXIS], limit=limit_rows)
    return best, tried


def auto_max_batch_tokens(
    graphdef: Any, state: Any, cfg: ModelConfig, mesh: Mesh, row_len: int, *, dtype, headroom: float = 0.9,
    limit_rows: int = 1024,
) -> int | None:
    """Returns the scoring batch (tokens of `row_len` rows) whose compiled peak stays within
    `headroom` of each device's memory, for the placed model (`graphdef`, `state`); None on CPUs.

    What `Engine(max_batch_tokens="auto")` uses on accelerators. The peak counts the resident
    weights (they are the program's arguments), so the limit is the runtime's whole `bytes_limit`.
    The plain scoring kernel sets the size; rows that read cached few-shot prefixes need more
    (Llama-3-8B on v5e:2x2, 20 rows of 2048: 16.6 GiB against 9.3), so the size is then halved
    until the prefix-cache kernel (8 prefixes of `row_len`) fits as well. The run compiles that
    kernel at this size anyway, so checking it here costs no new compile.
    """
    from jaxrun.aot import device_memory_limit

    limit = device_memory_limit(mesh.devices.flat[0])
    if limit is None:
        return None
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)

    def fits(rows: int, kernel: str = "score") -> bool:
        s = Shapes(score_rows=rows, row_len=row_len, prefix_len=row_len)
        lower = _lowerers(cfg, mesh, s, graphdef, abstract, dtype)[kernel]
        return compile_report(lower, int(limit * headroom)).fits

    rows = largest_fitting(fits, mesh.shape[DATA_AXIS], multiple=mesh.shape[DATA_AXIS], limit=limit_rows)
    while rows and not fits(rows, "score_after_prefix"):
        rows = round_up(rows // 2, mesh.shape[DATA_AXIS]) if rows > mesh.shape[DATA_AXIS] else 0
    return rows * row_len if rows else None


def parameter_count(cfg: ModelConfig) -> int:
    """Returns the number of parameters of the decoder for `cfg` (abstract, no memory used)."""
    state = nnx.state(nnx.eval_shape(lambda: build_model(cfg)))
    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(state)))


def plan_engine(config: Any, mesh: Mesh, *, memory_limit: int | None = None) -> dict[str, Any]:
    """Returns the engine plan for `config` (see configs/plan/default.py) on `mesh`, as a dict.

    Per kernel: the compile report at the configured shapes and FLOPs with every layer counted
    (all devices together; decode: one step); the most scoring rows one step fits, found by
    compiling (when `config.search_max_batch`); and FLOPs per token for the workload projection.
    """
    cfg = model_config(config.model)
    dtype = jnp.dtype(config.dtype)
    shapes = Shapes(**dict(config.shapes))
    devices = mesh.devices.size
    out: dict[str, Any] = {"model": config.model, "parameters": parameter_count(cfg), "devices": devices,
                           "mesh": dict(mesh.shape), "dtype": str(dtype), "shapes": dataclasses.asdict(shapes),
                           "kernels": {}}
    tokens = {"score": shapes.score_rows * shapes.row_len, "prefill": shapes.gen_rows * shapes.prompt_len,
              "decode": shapes.gen_rows}
    tokens["score_after_prefix"] = tokens["score"]
    for kernel in KERNELS + SCORING[1:]:
        report = compile_kernel(cfg, mesh, shapes, kernel, dtype=dtype, scan_layers=config.scan_layers,
                                fsdp=config.fsdp, memory_limit=memory_limit)
        entry = report.summary()
        if report.fits:
            total = corrected_flops(cfg, mesh, shapes, kernel, dtype=dtype, fsdp=config.fsdp) * devices
            entry.update(flops_all_devices=total, flops_per_token=total / tokens[kernel])
        out["kernels"][kernel] = entry
    if config.search_max_batch:
        rows, tried = largest_score_rows(cfg, mesh, shapes, dtype=dtype, scan_layers=config.scan_layers,
                                         fsdp=config.fsdp, memory_limit=memory_limit,
                                         limit_rows=config.search_limit_rows)
        out["max_score_rows"] = rows
        out["max_batch_tokens"] = rows * shapes.row_len
        out["max_batch_peak_gib"] = round(tried[rows].peak_bytes / 1024**3, 3) if rows else None
        out["compiles_for_search"] = len(tried)
    score_hand = hand_count_score_flops(cfg, shapes.score_rows, shapes.row_len)
    score = out["kernels"]["score"]
    if "flops_all_devices" in score:
        out["score_flops_vs_hand_count"] = score["flops_all_devices"] / score_hand
    return out


def workload_flops(plan: dict[str, Any], workload: Any) -> float | None:
    """Returns the FLOPs of a workload (scored, prompt and generated tokens) at the plan's per-token
    rates, None when a kernel did not fit. Decode FLOPs understate its time: decoding is bound by
    memory bandwidth, not FLOPs, at these batch sizes."""
    k = plan["kernels"]
    if not all("flops_per_token" in k[name] for name in KERNELS):
        return None
    return (workload.score_tokens * k["score"]["flops_per_token"]
            + workload.prompt_tokens * k["prefill"]["flops_per_token"]
            + workload.generated_tokens * k["decode"]["flops_per_token"])
