"""pear_jax: PEAR ("Reckoning with the Disagreement Problem", Schwarzschild et al.) in JAX.

Differentiable explainers, soft ranking and the explanation-consensus loss, a sharded trainer, and
agreement metrics among six post hoc explainers.

Kernels: `explainers`, `softrank`, `loss`, `agreement` (pure, jittable). Around them: `config`
(the run defaults; imports only ml_collections), `data`, `models`, `steps` (the TrainState and the
jitted train/eval steps), `checkpoint`, `train` (`train_and_evaluate(config, workdir, mesh=...)`),
`sweep` (`sweep(config, workdir, mesh=...)`), `report`. Importing the package imports none of them,
so config files that import `pear_jax.config` stay free of jax, flax and orbax.
"""
