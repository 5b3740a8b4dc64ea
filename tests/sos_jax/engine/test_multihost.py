"""Two local processes (4 CPU devices each) run one engine on a data 4 x model 2 mesh; both get
every result, equal to a single-process engine's."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
LL_REQUESTS = [("The river", " flows"), ("The river", " is a city"), ("", "the first word"), ("Question: why?", " because")]
GEN_REQUESTS = [("The river", {"max_gen_toks": 10}), ("Question:", {"max_gen_toks": 10, "until": ["\n"]})]

CHILD = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_num_cpu_devices", 4)
    port, pid, ckpt, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=pid)
    from jaxrun import atomic_write_json, is_main_process, make_mesh
    from sos_jax.engine import Engine

    requests = json.loads(sys.argv[5])
    engine = Engine.from_pretrained(ckpt, make_mesh(data=4, model=2), gen_batch_size=4)
    result = {"ll": engine.loglikelihood([tuple(r) for r in requests["ll"]]),
              "gen": engine.generate_until([tuple(r) for r in requests["gen"]])}
    atomic_write_json(f"{out}.{pid}.json", result)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_single_process(llama_dir, engine, tmp_path):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "").replace("--xla_force_host_platform_device_count=8", "")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    out = str(tmp_path / "result")
    requests = json.dumps({"ll": LL_REQUESTS, "gen": GEN_REQUESTS})
    port = _free_port()
    procs = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(port), str(i), str(llama_dir), out, requests], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)
    ]
    logs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)[-4000:]

    want_ll = engine.loglikelihood(LL_REQUESTS)
    want_gen = engine.generate_until(GEN_REQUESTS)
    for pid in range(2):
        got = json.loads(Path(f"{out}.{pid}.json").read_text())
        assert got["gen"] == want_gen
        for (a, ga), (b, gb) in zip(got["ll"], want_ll):
            assert abs(a - b) < 1e-4 and ga == gb
