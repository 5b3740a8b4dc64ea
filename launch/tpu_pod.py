"""Runs one of our launchers on every host of a Cloud TPU pod slice.

`python -m launch.tpu_pod --tpu=NAME --zone=ZONE [--project=P] -- launch.pear_train --config=...`

Every worker runs the same command (SPMD); `MULTIHOST=1` makes `jaxrun.initialize_distributed`
call `jax.distributed.initialize()`, which finds the other workers from the TPU metadata. Only
process 0 writes results and TensorBoard, so `--workdir` should be a shared path (a GCS-fused or
NFS directory) for checkpoints to be readable by every host.

That `gcloud ... tpu-vm ssh --worker=all` path is legacy (not offered on TPU7x and later). The
current way is a GKE JobSet: `--gke_target=v5e:4x4 --image=IMAGE` prints one (`jobset_spec`) for
the same launcher command, or `--xpk_cluster=C` prints the equivalent `xpk workload create`.
JobSet restarts the whole job after a preemption or a failed host (`failurePolicy.maxRestarts`),
and the launchers resume from their workdir (PEAR from its orbax checkpoint, SOS-Bench skipping
completed tasks), so the workdir must be persistent storage mounted on every host.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Sequence

from absl import app, flags

_TPU = flags.DEFINE_string("tpu", None, "TPU VM name (gcloud compute tpus tpu-vm); required.")
_ZONE = flags.DEFINE_string("zone", None, "TPU zone; required.")
_PROJECT = flags.DEFINE_string("project", None, "GCP project (default: gcloud's).")
_REPO_DIR = flags.DEFINE_string("repo_dir", "~/sos-pear-jax", "Checkout of this repo on every worker.")
_SETUP = flags.DEFINE_bool("setup", False, "First install the repo with jax[tpu] on every worker.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the gcloud command instead of running it.")
_GKE_TARGET = flags.DEFINE_string("gke_target", None, "Print a GKE JobSet for this slice, e.g. v5e:4x4 or v5e:2x2/2.")
_IMAGE = flags.DEFINE_string("image", None, "Container image with this repo and jax[tpu] (JobSet / xpk).")
_NAME = flags.DEFINE_string("name", "sos-pear-jax", "JobSet / xpk workload name.")
_XPK_CLUSTER = flags.DEFINE_string("xpk_cluster", None, "Print the `xpk workload create` command for this cluster.")
_MAX_RESTARTS = flags.DEFINE_integer("max_restarts", 3, "JobSet restarts after preemption or failure.")

# GKE node-selector accelerator names and chips per host of each TPU generation.
GKE_ACCELERATORS = {"v4": ("tpu-v4-podslice", 4), "v5e": ("tpu-v5-lite-podslice", 4),
                    "v5p": ("tpu-v5p-slice", 4), "v6e": ("tpu-v6e-slice", 4)}
# xpk's --tpu-type prefix per generation (followed by the chip count, or cores for v4/v5p).
XPK_TYPES = {"v4": ("v4", 2), "v5e": ("v5litepod", 1), "v5p": ("v5p", 2), "v6e": ("v6e", 1)}


def _remote_command(launcher_argv: Sequence[str], repo_dir: str) -> str:
    if not launcher_argv or not launcher_argv[0].startswith("launch."):
        raise ValueError(f"expected a launcher module such as launch.pear_train after '--', got {list(launcher_argv)}")
    return f"cd {repo_dir} && MULTIHOST=1 python -m " + " ".join(shlex.quote(a) for a in launcher_argv)


def _slice_shape(target: str) -> tuple[str, str, int, int, int]:
    """Returns (generation, topology, slices, hosts per slice, chips per host) of a target string."""
    from jaxrun.aot import parse_target

    parse_target(target)  # validates
    gen, rest = target.split(":")
    topo, _, slices = rest.partition("/")
    chips = 1
    for d in topo.split("x"):
        chips *= int(d)
    per_host = min(GKE_ACCELERATORS[gen][1], chips)
    return gen, topo, int(slices or 1), chips // per_host, per_host


def jobset_spec(
    name: str, target: str, launcher_argv: Sequence[str], *, image: str, repo_dir: str = "/app",
    max_restarts: int = 3,
) -> dict:
    """Returns a GKE JobSet (as a dict; dump it as YAML) running the launcher on every host of `target`.

    One replicated job per slice, one pod per host with the host's chips; `MULTIHOST=1` makes
    `jaxrun.initialize_distributed` start `jax.distributed`, which reads the peers from GKE's TPU
    environment (and MEGASCALE_* for multislice).
    """
    gen, topo, slices, hosts, per_host = _slice_shape(target)
    container = {
        "name": "jax",
        "image": image,
        "command": ["bash", "-c", _remote_command(launcher_argv, repo_dir)],
        "ports": [{"containerPort": 8471}, {"containerPort": 8080}],
        "securityContext": {"privileged": True},
        "resources": {"limits": {"google.com/tpu": per_host}},
    }
    pod = {
        "restartPolicy": "Never",
        "nodeSelector": {"cloud.google.com/gke-tpu-accelerator": GKE_ACCELERATORS[gen][0],
                         "cloud.google.com/gke-tpu-topology": topo},
        "containers": [container],
    }
    job = {"parallelism": hosts, "completions": hosts, "backoffLimit": 0, "template": {"spec": pod}}
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": name,
                     "annotations": {"alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"}},
        "spec": {
            "failurePolicy": {"maxRestarts": max_restarts},
            "replicatedJobs": [{"name": "slice", "replicas": slices, "template": {"spec": job}}],
        },
    }


def xpk_command(name: str, cluster: str, target: str, launcher_argv: Sequence[str], *, image: str,
                repo_dir: str = "/app") -> list[str]:
    """Returns the `xpk workload create` argv for the same run (xpk builds the JobSet itself)."""
    gen, topo, slices, hosts, per_host = _slice_shape(target)
    prefix, per_chip = XPK_TYPES[gen]
    return ["xpk", "workload", "create", f"--cluster={cluster}", f"--workload={name}",
            f"--tpu-type={prefix}-{hosts * per_host * per_chip}", f"--num-slices={slices}",
            f"--docker-image={image}", f"--command={_remote_command(launcher_argv, repo_dir)}"]


def pod_command(
    tpu: str, zone: str, launcher_argv: Sequence[str], *, project: str | None = None,
    repo_dir: str = "~/sos-pear-jax", setup: bool = False,
) -> list[str]:
    """Returns the gcloud argv that runs `python -m <launcher_argv>` on all workers of `tpu`."""
    remote = _remote_command(launcher_argv, repo_dir)
    if setup:
        remote = remote.replace(f"cd {repo_dir} && ", f"cd {repo_dir} && pip install -q -U 'jax[tpu]' && pip install -q -e . && ", 1)
    cmd = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", tpu, f"--zone={zone}", "--worker=all"]
    if project:
        cmd.append(f"--project={project}")
    return cmd + [f"--command={remote}"]


def main(argv: Sequence[str]) -> None:
    if _GKE_TARGET.value or _XPK_CLUSTER.value:
        if not _GKE_TARGET.value or not _IMAGE.value:
            raise app.UsageError("--gke_target and --image are required for a JobSet or xpk command")
        if _XPK_CLUSTER.value:
            print(shlex.join(xpk_command(_NAME.value, _XPK_CLUSTER.value, _GKE_TARGET.value, list(argv[1:]),
                                         image=_IMAGE.value)))
        else:
            import yaml

            spec = jobset_spec(_NAME.value, _GKE_TARGET.value, list(argv[1:]), image=_IMAGE.value,
                               max_restarts=_MAX_RESTARTS.value)
            print(yaml.safe_dump(spec, sort_keys=False), end="")
        return
    # Checked here rather than with required=True: that would make every other launcher's flag
    # parsing fail in a process that merely imported this module.
    if not _TPU.value or not _ZONE.value:
        raise app.UsageError("--tpu and --zone are required")
    cmd = pod_command(
        _TPU.value, _ZONE.value, list(argv[1:]), project=_PROJECT.value, repo_dir=_REPO_DIR.value,
        setup=_SETUP.value,
    )
    if _DRY_RUN.value:
        print(shlex.join(cmd))
        return
    subprocess.run(cmd, check=True)


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
