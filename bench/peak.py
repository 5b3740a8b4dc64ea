"""The fp32 matmul rate the benchmarks quote utilisation against, measured in their own run.

    python bench/peak.py      # last line: {"matmul_gflops": ..., "n": ..., "load_avg": [...]}
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np


def matmul_gflops(n: int, repeats: int, device: jax.Device | None = None) -> float:
    """Returns the median GFLOP/s of a jitted fp32 n x n matmul over `repeats` timed calls."""
    a = jax.device_put(jnp.asarray(np.random.default_rng(0).standard_normal((n, n)), jnp.float32),
                       device or jax.devices()[0])
    mm = jax.jit(lambda x, y: x @ y)
    mm(a, a).block_until_ready()  # compile outside the timing
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, a).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times)) / 1e9


if __name__ == "__main__":
    n = 2048
    print(json.dumps({"matmul_gflops": round(matmul_gflops(n, repeats=20), 1), "n": n,
                      "load_avg": [round(x, 2) for x in os.getloadavg()]}))
