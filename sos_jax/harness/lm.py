"""The language-model interface the runner needs: lm-eval's two request types plus chat templating.

`sos_jax.engine.Engine` implements it; tests use a deterministic fake. Each method takes ALL of a
task's requests in one call, so the implementation can sort, bucket and batch them.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable


@runtime_checkable
class LanguageModel(Protocol):
    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """Returns (sum of continuation token log-probs, continuation is greedy) per (context, continuation)."""
        ...

    def generate_until(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """Returns the generation per (context, gen_kwargs) with lm-eval's `until`/`max_gen_toks`."""
        ...

    def apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        """Returns the chat-formatted prompt for `messages`, ending with the assistant turn's start."""
        ...
