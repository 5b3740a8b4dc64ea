"""sos_jax: SOS-Bench ("Style Outweighs Substance", Feuer et al.) in JAX.

Scores language models on world knowledge, instruction following and safety with a sharded JAX
engine, aggregates factor scores, and tests whether LLM-judge leaderboards track them.
"""
