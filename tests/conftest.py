"""Test-wide set-up: 8 host CPU devices so every sharded code path runs in tests.

XLA reads the flag once, when jax initialises its backend, so it must be set before anything
imports jax.
"""

import os

_flag = "--xla_force_host_platform_device_count=8"
if _flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _flag).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Tests never reach a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def devices():
    """The 8 forced host devices; fails loudly if the flag did not take."""
    devs = jax.devices()
    assert len(devs) == 8, f"expected 8 forced CPU devices, got {len(devs)}"
    return devs
