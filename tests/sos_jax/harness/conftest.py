"""A deterministic fake language model for runner tests (no JAX model needed)."""

from __future__ import annotations

import zlib

import pytest


class FakeLM:
    """Loglikelihoods from a hash of (context, continuation); fixed generations; counts calls."""

    def __init__(self, generation: str = "Final Answer: The final answer is $7$. I hope it is correct."):
        self.generation = generation
        self.calls: list[tuple[str, int]] = []

    def loglikelihood(self, requests):
        self.calls.append(("loglikelihood", len(requests)))
        return [(-(zlib.crc32((c + x).encode()) % 1000) / 100.0, zlib.crc32(x.encode()) % 2 == 0) for c, x in requests]

    def generate_until(self, requests):
        self.calls.append(("generate_until", len(requests)))
        return [self.generation for _ in requests]

    def apply_chat_template(self, messages):
        return "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages) + "<|assistant|>"


@pytest.fixture
def fake_lm():
    return FakeLM()
