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
    return chain_matmul_gflops(n, n, 1, repeats, device)


def chain_matmul_gflops(rows: int, width: int, depth: int, repeats: int, device: jax.Device | None = None,
                        compiler_options: dict | None = None) -> float:
    """Returns the median GFLOP/s of one jitted program of `depth` chained (rows, width) @ (width,
    width) fp32 matmuls and nothing else: the best rate a step made of matmuls of that shape can
    reach under `compiler_options` (dispatch amortised over the chain, no elementwise work)."""
    rng = np.random.default_rng(0)
    dev = device or jax.devices()[0]
    a = jax.device_put(jnp.asarray(rng.standard_normal((rows, width)), jnp.float32), dev)
    # Scaled so the chain's values stay O(1) in float32.
    w = jax.device_put(jnp.asarray(rng.standard_normal((width, width)) / np.sqrt(width), jnp.float32), dev)

    def chain(x, w):
        for _ in range(depth):
            x = x @ w
        return x

    mm = jax.jit(chain, compiler_options=compiler_options)
    mm(a, w).block_until_ready()  # compile outside the timing
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, w).block_until_ready()
        times.append(time.perf_counter() - t)
    return 2 * rows * width * width * depth / float(np.median(times)) / 1e9


if __name__ == "__main__":
    n = 2048
    print(json.dumps({"matmul_gflops": round(matmul_gflops(n, repeats=20), 1), "n": n,
                      "load_avg": [round(x, 2) for x in os.getloadavg()]}))
