"""Two local processes (4 CPU devices each) load one checkpoint onto a data 4 x model 2 mesh.

Each process materialises only its addressable shards; the jitted forward over the global mesh
must equal the single-process logits.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from sos_jax.models import load_pretrained

from .hf_reference import causal_mask, padded_batch

REPO_ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_num_cpu_devices", 4)
    port, pid, ckpt, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    import numpy as np
    from flax import nnx
    from jax.experimental import multihost_utils
    from jaxrun import global_batch, make_mesh, process_slice
    from sos_jax.models import load_pretrained
    from jaxrun import auto_axes

    mesh = auto_axes(make_mesh(data=4, model=2))
    model, cfg = load_pretrained(ckpt, mesh=mesh)
    q = model.layers[0].attn.q.kernel.value
    assert len(q.addressable_shards) == 4 and not q.is_fully_addressable
    batch = np.load(out + ".inputs.npz")
    rows = process_slice(batch["tokens"].shape[0])
    tokens, positions, mask = (global_batch(mesh, batch[k][rows]) for k in ("tokens", "positions", "mask"))
    logits = nnx.jit(lambda m, t, p, a: m(t, p, a)[0])(model, tokens, positions, mask)
    full = multihost_utils.process_allgather(logits, tiled=True)
    if jax.process_index() == 0:
        np.save(out, np.asarray(full))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_process_sharded_load_equals_single_process(make_tiny_hf_model, tmp_path):
    directory = make_tiny_hf_model("gpt_neox")
    tokens, valid, positions = padded_batch(batch=8, length=10, seed=4)
    mask = causal_mask(valid)
    out = str(tmp_path / "logits.npy")
    np.savez(out + ".inputs.npz", tokens=tokens, positions=positions, mask=mask)

    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace("--xla_force_host_platform_device_count=8", "")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    port = _free_port()
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(port), str(i), str(directory), out], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-4000:]

    model, _ = load_pretrained(directory)
    ref = np.asarray(model(jnp.asarray(tokens), jnp.asarray(positions), jnp.asarray(mask))[0])
    got = np.load(out)
    assert got.shape == ref.shape
    assert np.abs(got - ref)[valid].max() < 1e-5
