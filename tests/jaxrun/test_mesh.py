"""Compiler options chosen per mesh: CPU meshes compile small matmuls as multi-threaded Eigen dots,
accelerator meshes (here: TPU topologies compiled ahead of time) keep the defaults."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from jaxrun import make_mesh, small_matmul_compiler_options


def _mlp_step_text(options):
    w = jnp.ones((100, 100), jnp.float32)
    x = jnp.ones((1280, 100), jnp.float32)
    return jax.jit(lambda x, w: jax.nn.relu(x @ w) @ w, compiler_options=options).lower(x, w).compile().as_text()


def test_cpu_meshes_get_eigen_dots_for_small_matmuls():
    options = small_matmul_compiler_options(make_mesh())
    assert options == {"xla_cpu_experimental_ynn_fusion_type": ""}
    assert "ynn" not in _mlp_step_text(options)
    # The option is what changes the compile: the default sends these dots to YNNPACK (this
    # jaxlib's CPU default; if a later one stops doing so this check says so).
    assert "ynn" in _mlp_step_text(None)


def test_tpu_meshes_keep_the_defaults():
    pytest.importorskip("libtpu", reason="TPU topologies need libtpu (the test extra installs jax[tpu])")
    from jaxrun.aot import target_devices

    assert small_matmul_compiler_options(make_mesh(devices=target_devices("v5e:2x2"))) is None
