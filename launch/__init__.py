"""absl-flag launchers and the run-time plumbing (mesh, processes, writer, atomic files) they hand
to the libraries."""

import jaxrun.distributed as _distributed

# Before any launcher starts JAX: with libtpu installed on a TPU-less machine, JAX would first try
# (noisily, holding libtpu's lock file) to start a TPU runtime.
_distributed.skip_absent_tpu()
