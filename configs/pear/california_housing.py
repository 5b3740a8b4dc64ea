"""PEAR on California Housing (the pear-xai wheel's CSVs); `:noisy` for the noise-corrupted variant."""

from pear_jax.config import base_config


def get_config(variant: str = ""):
    config = base_config("california_housing")
    config.dataset.noise = variant == "noisy"
    config.num_epochs = 5
    return config
