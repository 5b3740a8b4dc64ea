"""The defaults of a PEAR run, as one locked ConfigDict that configs/pear/*.py start from.

This module imports only ml_collections (no jax, flax or orbax), so loading a config file stays
cheap; the comments beside the fields say what they do, and `pear_jax.train` reads them.
"""

from __future__ import annotations

import json

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
    c.dataset.cache_dir = "~/.cache/pear_jax"
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
