"""Run-time plumbing below both libraries: device meshes and global batches, multi-host start-up,
the process-0 TensorBoard writer, atomic files, the JSON-lines reader and shape buckets.

Launchers build these and hand them to library functions, so neither library builds a mesh or
decides which process writes. This package imports neither `pear_jax`, `sos_jax` nor the
launchers; they import it (launchers -> libraries -> jaxrun).
"""

from jaxrun.buckets import bucket_size, next_power_of_two, round_up
from jaxrun.distributed import initialize_distributed, is_main_process
from jaxrun.files import atomic_write_bytes, atomic_write_json, atomic_write_text, read_jsonl
from jaxrun.mesh import (
    DATA_AXIS,
    MODEL_AXIS,
    auto_axes,
    batch_sharding,
    global_batch,
    make_mesh,
    process_slice,
    replicated,
    small_matmul_compiler_options,
)
from jaxrun.metrics import MetricWriter, log_progress

__all__ = [
    "DATA_AXIS",
    "MODEL_AXIS",
    "MetricWriter",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "auto_axes",
    "batch_sharding",
    "bucket_size",
    "global_batch",
    "initialize_distributed",
    "is_main_process",
    "log_progress",
    "make_mesh",
    "next_power_of_two",
    "process_slice",
    "read_jsonl",
    "replicated",
    "round_up",
    "small_matmul_compiler_options",
]
