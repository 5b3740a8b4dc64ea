"""Runs one of our launchers on every host of a Cloud TPU pod slice.

`python -m launch.tpu_pod --tpu=NAME --zone=ZONE [--project=P] -- launch.pear_train --config=...`

Every worker runs the same command (SPMD); `MULTIHOST=1` makes `jaxrun.initialize_distributed`
call `jax.distributed.initialize()`, which finds the other workers from the TPU metadata. Only
process 0 writes results and TensorBoard, so `--workdir` should be a shared path (a GCS-fused or
NFS directory) for checkpoints to be readable by every host.
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


def pod_command(
    tpu: str, zone: str, launcher_argv: Sequence[str], *, project: str | None = None,
    repo_dir: str = "~/sos-pear-jax", setup: bool = False,
) -> list[str]:
    """Returns the gcloud argv that runs `python -m <launcher_argv>` on all workers of `tpu`."""
    if not launcher_argv or not launcher_argv[0].startswith("launch."):
        raise ValueError(f"expected a launcher module such as launch.pear_train after '--', got {list(launcher_argv)}")
    remote = f"cd {repo_dir} && "
    if setup:
        remote += "pip install -q -U 'jax[tpu]' && pip install -q -e . && "
    remote += "MULTIHOST=1 python -m " + " ".join(shlex.quote(a) for a in launcher_argv)
    cmd = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", tpu, f"--zone={zone}", "--worker=all"]
    if project:
        cmd.append(f"--project={project}")
    return cmd + [f"--command={remote}"]


def main(argv: Sequence[str]) -> None:
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
