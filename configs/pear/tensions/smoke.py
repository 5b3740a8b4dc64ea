"""The whole tensions pipeline in about a minute: one small dataset, λ {0, 0.5} × DP {off, ε 8} ×
reweighing × 2 seeds, a 2×16 MLP, one epoch.

Tests pass `--config.dataset.data_dir=<dir with bankmarketing-train.csv/-test.csv>`.
"""

from pear_jax.tensions.config import base_config


def get_config():
    config = base_config()
    config.datasets = ("bank_marketing",)
    config.dataset.max_train_rows = 512
    config.dataset.max_test_rows = 256
    config.dp_epsilons = (8.0,)
    config.seeds = (0, 1)
    config.model.depth = 2
    config.model.width = 16
    config.batch_size = 32
    config.num_epochs = 1
    config.ig_steps = 4
    config.eval.mia_rows = 128
    config.eval.explain_rows = 32
    return config
