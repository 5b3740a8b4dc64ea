"""Planner defaults: Llama-3-8B in bf16, tensor parallel over a v5e 2x2 slice, the engine's shapes
for 2048-token scoring rows and 16-row generation, the PEAR train step, and the SOS workload.

`python -m launch.plan --config=configs/plan/default.py --config.model=<preset|config.json|.gguf>
--config.target=v5e:4x4` (or `local`).
"""

import ml_collections


def get_config():
    c = ml_collections.ConfigDict()
    c.model = "llama3-8b"  # a preset (sos_jax.engine.plan.PRESETS), a config.json or its directory, or a .gguf
    c.target = "v5e:2x2"  # "<chip>:<topology>[/<slices>]" or "local"
    c.mesh_model = 4  # model (tensor-parallel) axis; the rest of the devices form `data`
    c.dtype = "bfloat16"
    c.scan_layers = True
    c.fsdp = False  # also shard weights over `data`
    c.shapes = ml_collections.ConfigDict(dict(
        score_rows=4, row_len=2048, score_slots=8, cont_len=8, gen_rows=16, prompt_len=1024, max_new=256,
        prefixes=8, prefix_len=2048,  # cached few-shot prefixes a scoring step reads (engine: up to 8)
    ))
    c.search_max_batch = True
    c.search_limit_rows = 64
    c.mfu = 0.4  # stated model-FLOPs utilisation for the projection
    # The workload to project: a rough order of magnitude for the full 19-benchmark SOS suite
    # (loglikelihood tokens scored, generation prompts prefilled, tokens generated) per model.
    # An estimate, not a measurement: set it from a run's token counts for a real projection.
    c.workload = ml_collections.ConfigDict(dict(score_tokens=50_000_000, prompt_tokens=10_000_000,
                                                generated_tokens=5_000_000))
    # The PEAR train step at its run's batch size (electricity: 8 features, 2 classes).
    c.pear = ml_collections.ConfigDict(dict(enabled=True, dataset="electricity", num_features=8, num_classes=2,
                                            batch_size=64))
    return c
