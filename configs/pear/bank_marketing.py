"""PEAR on Bank Marketing (the pear-xai wheel's CSVs); `:noisy` for the noise-corrupted variant."""

from pear_jax.config import base_config, noisy_variant


def get_config(variant: str = ""):
    config = base_config("bank_marketing")
    config.dataset.noise = noisy_variant(variant, "configs/pear/bank_marketing.py")
    config.num_epochs = 10
    return config
