"""PEAR on California Housing (the pear-xai wheel's CSVs); `:noisy` for the noise-corrupted variant."""

from pear_jax.config import base_config, noisy_variant


def get_config(variant: str = ""):
    config = base_config("california_housing")
    config.dataset.noise = noisy_variant(variant, "configs/pear/california_housing.py")
    config.num_epochs = 5
    return config
