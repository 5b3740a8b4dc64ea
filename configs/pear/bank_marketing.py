"""PEAR on Bank Marketing (the pear-xai wheel's CSVs); `:noisy` for the noise-corrupted variant."""

from pear_jax.config import base_config


def get_config(variant: str = ""):
    config = base_config("bank_marketing")
    config.dataset.noise = variant == "noisy"
    config.num_epochs = 10
    return config
