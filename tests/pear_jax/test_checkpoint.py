"""Tests for the orbax checkpoint wrapper: resume skips a damaged newest checkpoint."""

import logging

import jax.numpy as jnp
import numpy as np
import pytest

from pear_jax.checkpoint import Checkpoints


def _state(v: float) -> dict:
    return {"params": {"w": jnp.full((64, 8), v, jnp.float32)}, "step": jnp.asarray(int(v))}


def test_resume_falls_back_to_the_newest_intact_checkpoint(tmp_path, caplog):
    ckpts = Checkpoints(tmp_path / "ckpt", every_steps=1, keep=3)
    for step in (1, 2):
        ckpts.save(step, _state(float(step)))
    ckpts.close()
    # Damage every data file of step 2 the way a full disk or a kill during copy would.
    damaged = [f for f in (tmp_path / "ckpt" / "2").rglob("*") if f.is_file() and f.stat().st_size > 0]
    assert damaged
    for f in damaged:
        f.write_bytes(f.read_bytes()[: max(1, f.stat().st_size // 3)])
    ckpts = Checkpoints(tmp_path / "ckpt", every_steps=1, keep=3)
    caplog.set_level(logging.WARNING)
    step, state = ckpts.restore_latest_intact(_state(0.0))
    ckpts.close()
    assert step == 1
    np.testing.assert_array_equal(np.asarray(state["params"]["w"]), np.ones((64, 8), np.float32))
    assert any("step 2" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)


def test_every_checkpoint_damaged_is_an_error(tmp_path):
    ckpts = Checkpoints(tmp_path / "ckpt", every_steps=1, keep=3)
    ckpts.save(1, _state(1.0))
    ckpts.close()
    for f in (tmp_path / "ckpt" / "1").rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(b"\0")
    ckpts = Checkpoints(tmp_path / "ckpt", every_steps=1, keep=3)
    with pytest.raises(RuntimeError, match="every checkpoint .* is damaged"):
        ckpts.restore_latest_intact(_state(0.0))
    ckpts.close()
    assert Checkpoints(tmp_path / "empty", every_steps=1, keep=1).restore_latest_intact(_state(0.0)) is None
