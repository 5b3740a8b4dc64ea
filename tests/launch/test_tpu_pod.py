"""Tests for the TPU pod launcher's command construction and the MULTIHOST switch."""

import subprocess
import sys

import pytest

import jaxrun
from launch import tpu_pod


def test_pod_command_runs_launcher_on_all_workers():
    cmd = tpu_pod.pod_command("my-v5p", "us-east5-a", ["launch.pear_train", "--config.lam=0.5"], project="p")
    assert cmd[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "my-v5p"]
    assert "--worker=all" in cmd and "--zone=us-east5-a" in cmd and "--project=p" in cmd
    assert cmd[-1] == "--command=cd ~/sos-pear-jax && MULTIHOST=1 python -m launch.pear_train --config.lam=0.5"


def test_pod_command_rejects_non_launcher():
    with pytest.raises(ValueError, match="launcher module"):
        tpu_pod.pod_command("t", "z", ["rm", "-rf"])


def test_dry_run_cli_prints_command():
    out = subprocess.run(
        [sys.executable, "-m", "launch.tpu_pod", "--tpu=t", "--zone=z", "--dry_run", "--", "launch.sos_eval", "--limit=5"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "MULTIHOST=1 python -m launch.sos_eval --limit=5" in out


def test_cli_requires_tpu_and_zone():
    proc = subprocess.run([sys.executable, "-m", "launch.tpu_pod", "--zone=z", "--", "launch.sos_eval"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "--tpu and --zone are required" in proc.stderr


def test_multihost_switch_calls_initialize(monkeypatch):
    calls = []
    monkeypatch.setattr(jaxrun.distributed.jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jaxrun.distributed.jax.distributed, "initialize", lambda **kw: calls.append(kw))
    for k in ("JAX_COORDINATOR_ADDRESS", "TPU_WORKER_HOSTNAMES", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE", "MULTIHOST"):
        monkeypatch.delenv(k, raising=False)
    jaxrun.initialize_distributed()
    assert calls == []  # a plain single process is left alone
    monkeypatch.setenv("MULTIHOST", "1")
    jaxrun.initialize_distributed()
    assert calls == [{"coordinator_address": None, "num_processes": None, "process_id": None}]


def test_gke_jobset_for_a_multislice_v5e_run():
    import yaml

    out = subprocess.run(
        [sys.executable, "-m", "launch.tpu_pod", "--gke_target=v5e:4x4/2", "--image=gcr.io/p/img:1", "--name=eval",
         "--", "launch.sos_eval", "--limit=5"],
        capture_output=True, text=True, check=True,
    ).stdout
    spec = yaml.safe_load(out)
    assert spec["kind"] == "JobSet" and spec["metadata"]["name"] == "eval"
    assert spec["spec"]["failurePolicy"]["maxRestarts"] == 3  # preemption: the job restarts and resumes
    rj = spec["spec"]["replicatedJobs"][0]
    assert rj["replicas"] == 2  # slices
    job = rj["template"]["spec"]
    assert job["parallelism"] == job["completions"] == 4  # 16 chips, 4 per host
    pod = job["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                                   "cloud.google.com/gke-tpu-topology": "4x4"}
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["google.com/tpu"] == 4
    assert container["command"][-1] == "cd /app && MULTIHOST=1 python -m launch.sos_eval --limit=5"


def test_xpk_command_and_bad_targets():
    cmd = tpu_pod.xpk_command("w", "c", "v5e:2x2", ["launch.pear_train"], image="img")
    assert "--tpu-type=v5litepod-4" in cmd and "--num-slices=1" in cmd
    assert cmd[-1] == "--command=cd /app && MULTIHOST=1 python -m launch.pear_train"
    with pytest.raises(ValueError, match="expected 'local'"):
        tpu_pod.jobset_spec("w", "v9:2x2", ["launch.pear_train"], image="img")
    with pytest.raises(ValueError, match="launcher module"):
        tpu_pod.jobset_spec("w", "v5e:2x2", ["rm"], image="img")
