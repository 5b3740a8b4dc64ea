"""pear_jax: PEAR ("Reckoning with the Disagreement Problem", Schwarzschild et al.) in JAX.

Differentiable explainers, soft ranking and the explanation-consensus loss, a sharded trainer, and
agreement metrics among six post hoc explainers.
"""
