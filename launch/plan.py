"""Plans a run before launching it: `python -m launch.plan [--config=configs/plan/default.py] [--workdir=DIR]`.

Compiles ahead of time, for `--config.target` (a TPU topology such as v5e:2x2 or v5e:4x4, compiled
from this host with libtpu, or `local`), the engine's scoring, prefill and decode kernels for
`--config.model` (a preset such as llama3-8b, a config.json, or a GGUF file's header; no weights)
and the PEAR train step, then prints per-device memory (arguments, temporaries, code), FLOPs,
fit or no fit, the largest scoring batch that fits (found by compiling) and the projected time of
`config.workload` at the chip's published bf16 peak and `config.mfu`. Writes <workdir>/plan.json.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from . import common

_CONFIG = config_flags.DEFINE_config_file(
    "config", default=common.config_path("plan", "default.py"), help_string="Planner config (configs/plan/*.py)."
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default ./runs/plan).")


def _print(plan: dict) -> None:
    print(f"{plan['model']}: {plan['parameters'] / 1e9:.2f}B parameters, {plan['dtype']}, "
          f"{plan['devices']} devices, mesh {plan['mesh']} on {plan['target']}")
    for name, k in {**plan["kernels"], **({"pear_train_step": plan["pear"]} if "pear" in plan else {})}.items():
        fit = "fits" if k["fits"] else f"DOES NOT FIT ({k.get('error', '')})"
        flops = k.get("flops_all_devices", k["flops"])
        print(f"  {name:16s} {fit}: peak {k['peak_gib']:.2f} GiB/device (arguments {k['arguments_gib']:.2f}, "
              f"temporaries {k['temporaries_gib']:.2f}, code {k['code_gib']:.3f}), {flops:.3e} FLOPs")
    if "max_batch_tokens" in plan:
        print(f"  largest scoring batch: {plan['max_score_rows']} rows x {plan['shapes']['row_len']} = "
              f"{plan['max_batch_tokens']} tokens ({plan['compiles_for_search']} compiles)")
    if plan.get("projected_hours") is not None:
        print(f"  workload {plan['workload']}: {plan['projected_hours']:.2f} h at {plan['mfu']:.0%} MFU of "
              f"{plan['peak_flops_per_chip'] / 1e12:.0f} TFLOP/s per chip")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    import jaxrun
    from jaxrun import aot
    from sos_jax.engine import plan as engine_plan

    config = _CONFIG.value
    devices = aot.target_devices(config.target)
    mesh = jaxrun.make_mesh(model=config.mesh_model, devices=devices)
    result = {"target": config.target, **engine_plan.plan_engine(config, mesh)}
    chip = aot.target_chip(config.target)
    flops = engine_plan.workload_flops(result, config.workload)
    result.update(workload=config.workload.to_dict(), mfu=config.mfu, projected_hours=None)
    if chip is not None and flops is not None:
        result["peak_flops_per_chip"] = chip.peak_bf16_flops
        result["projected_hours"] = aot.projected_seconds(flops, chip, len(devices), config.mfu) / 3600
    if config.pear.enabled:
        from pear_jax import plan as pear_plan
        from pear_jax.config import base_config

        pear_config = base_config(config.pear.dataset)
        result["pear"] = pear_plan.compile_train_step(
            pear_config, jaxrun.make_mesh(devices=devices), config.pear.num_features, config.pear.num_classes,
            batch_size=config.pear.batch_size,
        ).summary()
    workdir = Path(_WORKDIR.value or "runs/plan")
    if jaxrun.is_main_process():
        jaxrun.atomic_write_json(workdir / "plan.json", result)
        _print(result)
        print(f"  written: {workdir / 'plan.json'}", flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
