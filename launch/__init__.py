"""absl-flag launchers: flags -> config -> mesh/writer -> one library call each.

In a checkout this folder is the `launch` package (`python -m launch.pear_train`); the wheel
installs it as `sos_pear_launch`, with `configs/` inside (see setup.py), so launchers import each
other relatively and find their configs through `common.config_path`.
"""
