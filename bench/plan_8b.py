"""Llama-3-8B planned for a v5e 2x2 slice from this CPU host: fit, memory, largest batch, compile
time flat in depth, FLOPs against a hand count, projected SOS-suite time.

Everything is compiled ahead of time for the TPU topology with libtpu (no TPU, no weights), with
the planner's defaults (configs/plan/default.py: bf16, tensor parallel over the 4 chips, scoring
rows of 2048 tokens, 16-row generation, 40% MFU, the stated SOS workload estimate). The peer for
the compile-time figure is the per-layer (unrolled) model in the same run: its compile grows with
depth where the scanned one stays flat. Compile times are wall-clock on a shared, loaded 2-core
box: read the ratios, not the seconds.

Last line: {"fits_v5e_2x2", "hbm_gib_per_chip", "max_batch_tokens_v5e_2x2",
"compile_ratio_32_vs_2_layers", "flops_vs_hand_count", "projected_suite_hours_v5e_2x2", ...}.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jax.numpy as jnp  # noqa: E402

from jaxrun import make_mesh  # noqa: E402
from jaxrun.aot import GIB, projected_seconds, target_chip, target_devices  # noqa: E402
from sos_jax.engine import plan  # noqa: E402


def _config():
    spec = importlib.util.spec_from_file_location("plan_default", ROOT / "configs" / "plan" / "default.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _compile_seconds(cfg, mesh, shapes, scan: bool) -> float:
    start = time.perf_counter()
    report = plan.compile_kernel(cfg, mesh, shapes, "score", scan_layers=scan)
    assert report.fits
    return time.perf_counter() - start


def main() -> None:
    config = _config()
    config.search_limit_rows = 256
    target = "v5e:2x2"
    devices = target_devices(target)
    mesh = make_mesh(model=config.mesh_model, devices=devices)
    cfg = plan.model_config(config.model)
    shapes = plan.Shapes(**dict(config.shapes))

    # Compile time in depth, scanned: three interleaved rounds of (2, 32) layers, each round at a
    # slightly different row length so every compile is fresh (JAX caches compiled programs); the
    # median ratio. The per-layer peer (2 vs 8 layers; 32 would take many minutes) once.
    ratios = []
    for row_len in (512, 528, 544):
        t = {}
        for layers in (2, 32):
            t[layers] = _compile_seconds(cfg.replace(num_layers=layers), mesh,
                                         dataclasses.replace(shapes, score_rows=1, row_len=row_len), True)
        ratios.append(t[32] / t[2])
        print(f"compile score scanned, rows of {row_len}: 2 layers {t[2]:.1f}s, 32 layers {t[32]:.1f}s, "
              f"ratio {ratios[-1]:.2f}", flush=True)
    short = dataclasses.replace(shapes, score_rows=1, row_len=512)
    peer = {n: _compile_seconds(cfg.replace(num_layers=n), mesh, short, False) for n in (2, 8)}
    print(f"compile score per-layer peer: 2 layers {peer[2]:.1f}s, 8 layers {peer[8]:.1f}s", flush=True)

    result = plan.plan_engine(config, mesh)
    score = result["kernels"]["score"]
    flops = plan.workload_flops(result, config.workload)
    hours = projected_seconds(flops, target_chip(target), len(devices), config.mfu) / 3600 if flops else None
    for name, k in result["kernels"].items():
        print(f"{name}: {json.dumps(k)}", flush=True)
    print(f"largest scoring batch: {result.get('max_score_rows')} rows x {shapes.row_len} "
          f"({result.get('compiles_for_search')} compiles)", flush=True)
    out = {
        "fits_v5e_2x2": bool(score["fits"]),
        "hbm_gib_per_chip": score["peak_gib"],
        "max_batch_tokens_v5e_2x2": result.get("max_batch_tokens"),
        "compile_ratio_32_vs_2_layers": round(statistics.median(ratios), 3),
        "compile_ratio_8_vs_2_layers_per_layer_peer": round(peer[8] / peer[2], 3),
        "flops_vs_hand_count": round(result.get("score_flops_vs_hand_count", float("nan")), 4),
        "projected_suite_hours_v5e_2x2": None if hours is None else round(hours, 3),
        "planner_batch": f"{shapes.score_rows}x{shapes.row_len}",
        "usable_hbm_gib": 15.75,
        "nominal_hbm_gib": target_chip(target).hbm_bytes / GIB,
        "mfu": config.mfu,
        "workload": config.workload.to_dict(),
        "dtype": str(jnp.dtype(config.dtype)),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
