"""The tensions grid on Adult with race (white / non-white) as the sensitive attribute."""

from pear_jax.tensions.config import base_config


def get_config():
    config = base_config()
    config.datasets = ("adult",)
    config.dataset.sensitive = "race"
    return config
