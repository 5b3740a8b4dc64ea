"""The defaults of a PEAR run, as one locked ConfigDict that configs/pear/*.py start from.

This module imports only ml_collections (no jax, flax or orbax), so loading a config file stays
cheap; the comments beside the fields say what they do, and `pear_jax.train` reads them.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

import ml_collections
from ml_collections import config_dict


def base_config(dataset: str = "electricity") -> ml_collections.ConfigDict:
    """Returns the paper's PEAR settings for `dataset` (configs/pear/*.py start from this).

    Unknown keys are rejected when a launcher override or `config.update` names one, because the
    dict is locked.
    """
    c = ml_collections.ConfigDict()
    c.seed = 0
    # PEAR loss: (1 - lam) * CE + lam * consensus; consensus = mu * soft-Spearman term +
    # (1 - mu) * Pearson term between the two explainers' attributions of the true label.
    c.lam = 0.5
    c.mu = 0.5
    c.explainer_a = "vanilla_gradient"
    c.explainer_b = "integrated_gradients"
    c.strength = 0.2  # soft-rank regularisation strength
    c.ig_steps = 20
    c.ig_baseline = "train_mean"  # or "zeros"

    c.dataset = ml_collections.ConfigDict()
    c.dataset.name = dataset
    c.dataset.source = "pear_wheel"  # pear_wheel | hub | local
    c.dataset.data_dir = config_dict.placeholder(str)
    c.dataset.cache_dir = ""  # "": the project's cache folder, jaxrun.workdir.cache_dir("pear")
    c.dataset.label = config_dict.placeholder(str)
    c.dataset.scaling = "train"  # train | per_split (the reference's behaviour)
    c.dataset.noise = False  # append U(0,1) noise features
    c.dataset.noise_seed = 0
    c.dataset.test_fraction = 0.25  # hub / single-file sources only
    c.dataset.split_seed = 0
    c.dataset.max_train_rows = config_dict.placeholder(int)
    c.dataset.max_test_rows = config_dict.placeholder(int)

    c.model = ml_collections.ConfigDict()
    c.model.kind = "mlp"  # mlp | linear
    c.model.depth = 3
    c.model.width = 100
    c.model.activation = "relu"

    c.optim = ml_collections.ConfigDict()
    c.optim.learning_rate = 5e-4
    c.optim.weight_decay = 2e-4
    c.batch_size = 64  # global batch
    c.num_epochs = 5

    c.eval = ml_collections.ConfigDict()
    c.eval.every_epochs = 1  # 0: only after the last step; negative: never
    c.eval.batch_size = 512
    c.eval.max_rows = config_dict.placeholder(int)  # None: the whole test split
    c.eval.k = 5  # top-k for the agreement metrics

    c.final = ml_collections.ConfigDict()
    c.final.rows = 500
    c.final.k = 5
    c.final.explainers = ()  # empty: all six (explainers.ALL_EXPLAINERS)

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every_steps = 500
    c.checkpoint.keep = 3

    c.log_every_steps = 100
    c.lock()
    return c


def noisy_variant(variant: str, config_file: str) -> bool:
    """Returns whether a config file's variant (`<file>.py:noisy`) asks for the noisy dataset;
    raises naming the file for any other variant."""
    if variant not in ("", "noisy"):
        raise ValueError(f"{config_file}:{variant}: unknown variant (expected {config_file} or {config_file}:noisy)")
    return variant == "noisy"


def validate(config: ml_collections.ConfigDict, *, needs_data: bool = True) -> ml_collections.ConfigDict:
    """Returns `config` after checking every field a run reads; raises `jaxrun.checks.ConfigError`
    naming the first bad field, its value and what is allowed (with "did you mean" for names).

    Runs before JAX starts or data loads (the launchers call it first), so a bad command line
    fails in a second and creates nothing. `needs_data=False` (the caller passes the data itself)
    skips the checks of where data comes from. Checks that need the data (top-k against the number of
    features, batch size against the training rows and the mesh) stay in `train.build`.
    """
    from jaxrun.checks import ConfigError, check_choice, check_float, check_int, unknown_fields
    from pear_jax import data, explainers

    unknown = unknown_fields(config_to_dict(config), config_to_dict(base_config(config.dataset.name)))
    if unknown:
        raise ConfigError(f"config: unknown field {unknown[0]}")
    check_int("config.seed", config.seed, minimum=-(2**31), maximum=2**31 - 1)  # the checkpointed int32
    check_float("config.lam", config.lam, minimum=0.0, maximum=1.0)
    check_float("config.mu", config.mu, minimum=0.0, maximum=1.0)
    for field in ("explainer_a", "explainer_b"):
        check_choice(f"config.{field}", config[field], explainers.DIFFERENTIABLE_EXPLAINERS)
    check_float("config.strength", config.strength, minimum=0.0, open_min=True)
    check_int("config.ig_steps", config.ig_steps, minimum=1)
    check_choice("config.ig_baseline", config.ig_baseline, ("train_mean", "zeros"))

    ds = config.dataset
    check_choice("config.dataset.source", ds.source, data.SOURCES)
    if not needs_data:
        pass
    elif ds.source != "local":
        check_choice("config.dataset.name", ds.name, sorted(data.DATASETS))
    elif not ds.data_dir:
        raise ConfigError("config.dataset.data_dir is required for dataset.source='local' "
                          "(a directory with train.csv/test.csv, or one CSV file)")
    check_choice("config.dataset.scaling", ds.scaling, data.SCALINGS)
    check_float("config.dataset.test_fraction", ds.test_fraction, minimum=0.0, maximum=1.0, open_min=True)
    if ds.test_fraction >= 1.0:
        raise ConfigError(f"config.dataset.test_fraction={ds.test_fraction!r}: must be < 1")
    check_int("config.dataset.noise_seed", ds.noise_seed, minimum=0)
    check_int("config.dataset.split_seed", ds.split_seed, minimum=0)
    for field in ("max_train_rows", "max_test_rows"):
        if ds[field] is not None:
            check_int(f"config.dataset.{field}", ds[field], minimum=1)

    validate_model_and_optim(config)

    check_int("config.eval.every_epochs", config.eval.every_epochs)
    check_int("config.eval.batch_size", config.eval.batch_size, minimum=1)
    if config.eval.max_rows is not None:
        check_int("config.eval.max_rows", config.eval.max_rows, minimum=1)
    check_int("config.eval.k", config.eval.k, minimum=1)
    check_int("config.final.rows", config.final.rows, minimum=0)
    check_int("config.final.k", config.final.k, minimum=1)
    for i, name in enumerate(config.final.explainers):
        check_choice(f"config.final.explainers[{i}]", name, explainers.ALL_EXPLAINERS)
    check_int("config.checkpoint.every_steps", config.checkpoint.every_steps, minimum=0)
    check_int("config.checkpoint.keep", config.checkpoint.keep, minimum=1)
    check_int("config.log_every_steps", config.log_every_steps, minimum=1)
    return config


def validate_model_and_optim(config: ml_collections.ConfigDict) -> None:
    """Checks the fields every PEAR trainer reads: the model, the optimizer, batch size and epochs."""
    from jaxrun.checks import check_choice, check_float, check_int
    from pear_jax import models

    check_choice("config.model.kind", config.model.kind, ("mlp", "linear"))
    check_int("config.model.depth", config.model.depth, minimum=1)
    check_int("config.model.width", config.model.width, minimum=1)
    check_choice("config.model.activation", config.model.activation, sorted(models.ACTIVATIONS))
    check_float("config.optim.learning_rate", config.optim.learning_rate, minimum=0.0, open_min=True)
    check_float("config.optim.weight_decay", config.optim.weight_decay, minimum=0.0)
    check_int("config.batch_size", config.batch_size, minimum=1)
    check_int("config.num_epochs", config.num_epochs, minimum=1)


def validate_sweep(lams: Iterable[Any], seeds: Iterable[Any]) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """Returns the sweep's λ and seed values after checking all of them (before the first cell
    trains): λ finite in [0, 1], seeds int32, at least one of each, no duplicates."""
    from jaxrun.checks import ConfigError, check_float, check_int

    lams, seeds = tuple(lams), tuple(seeds)
    if not lams or not seeds:
        raise ConfigError(f"a sweep needs at least one λ and one seed, got lams={list(lams)}, seeds={list(seeds)}")
    lams = tuple(check_float(f"lams[{i}]", v, minimum=0.0, maximum=1.0) for i, v in enumerate(lams))
    seeds = tuple(check_int(f"seeds[{i}]", v, minimum=-(2**31), maximum=2**31 - 1) for i, v in enumerate(seeds))
    for name, values in (("lams", lams), ("seeds", seeds)):
        if len(set(values)) != len(values):
            raise ConfigError(f"{name}={list(values)}: a value is repeated")
    return lams, seeds


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
    """Returns the config as plain JSON-able Python values."""
    return json.loads(config.to_json_best_effort())


def flatten(d: dict, prefix: str = "") -> dict:
    """Returns nested dict `d` as one level of dotted keys ({"a": {"b": 1}} -> {"a.b": 1})."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
