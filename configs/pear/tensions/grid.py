"""The full tensions grid: Adult (sex), Bank Marketing, California Housing and Electricity ×
PEAR λ {0, 0.5} × DP-SGD {off, ε≈8, ε≈2} (δ = 1e-5) × reweighing {off, on} × 3 seeds."""

from pear_jax.tensions.config import base_config


def get_config():
    return base_config()
