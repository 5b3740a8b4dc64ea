"""PEAR on Electricity (the pear-xai wheel's train/test CSVs), short schedule: the README's main job.

Run: python -m launch.pear_train --config=configs/pear/electricity.py --workdir=runs/pear_electricity
Pass `:noisy` (…/electricity.py:noisy) for the noise-corrupted variant.
"""

from pear_jax.config import base_config, noisy_variant


def get_config(variant: str = ""):
    config = base_config("electricity")
    config.dataset.noise = noisy_variant(variant, "configs/pear/electricity.py")
    config.num_epochs = 10  # ~1 CPU minute in all
    config.eval.max_rows = 2000  # per-epoch eval on the first 2000 test rows; final matrix: 500
    return config
