"""The LM inference engine for SOS-Bench: lm-eval-exact loglikelihood scoring with shared contexts,
KV-cache generation, and multiple-choice metrics, sharded over a (data, model) mesh."""

from sos_jax.engine.engine import Engine, kernel_traces
from sos_jax.engine.metrics import multiple_choice_metrics

__all__ = ["Engine", "kernel_traces", "multiple_choice_metrics"]
