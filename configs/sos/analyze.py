"""Settings of `launch/sos_analyze.py`: factor normalisation, bootstrap/permutation sizes, judge baseline."""

from sos_jax.analysis.config import base_config


def get_config():
    """Returns the analysis settings (override with --config.<field>=...)."""
    c = base_config()
    # No --results and no published anchor tables: how many tiny random models the launcher's
    # demo evaluates before analysing them.
    c.demo_models = 4
    return c
