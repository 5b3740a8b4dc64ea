"""Shared fixtures: the published SOS-Bench tables (read in place, never copied)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ANCHORS = REPO.parent / "shared" / "anchors" / "sos-bench"


@pytest.fixture(scope="session")
def anchors() -> Path:
    """The anchor folder; CI has it at ../shared/anchors/sos-bench relative to the repo root."""
    assert (ANCHORS / "artifacts" / "eleuther_wandb.csv").is_file(), f"anchor tables missing at {ANCHORS}"
    return ANCHORS / "artifacts"
