"""absl-flag launchers and the run-time plumbing (mesh, processes, writer, atomic files) they hand
to the libraries."""
