"""A seconds-long PEAR run for tests: a local CSV directory, a 2×16 MLP, a few steps.

The tests pass `--config.dataset.data_dir=<dir with train.csv/test.csv>`; `smoke.py:noisy` appends
as many uniform-noise features as the data has (like the other configs' `:noisy`).
"""

from pear_jax.config import base_config, noisy_variant


def get_config(variant: str = ""):
    config = base_config("smoke")
    config.dataset.source = "local"
    config.dataset.noise = noisy_variant(variant, "configs/pear/smoke.py")
    config.model.depth = 2
    config.model.width = 16
    config.batch_size = 16
    config.num_epochs = 12  # 192 steps: long enough for the kill-and-resume test to land mid-run
    config.ig_steps = 8
    config.eval.batch_size = 64
    config.final.rows = 32
    config.eval.k = 3  # the tests write 4-feature data
    config.final.k = 3
    config.checkpoint.every_steps = 5  # not a multiple of the 16 steps per epoch: mid-epoch saves
    config.checkpoint.keep = 2
    config.log_every_steps = 4
    return config
