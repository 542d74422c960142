"""Shared pytest fixtures and hypothesis profiles.

Hypothesis profiles: ``ci`` (default; quick, a few seconds per property) and ``long``
(≥ 5000 examples per property), chosen with ``HYPOTHESIS_PROFILE=long``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=100, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long", max_examples=5000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = REPO_ROOT / "resources" / "samples"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """``resources/samples`` (4 dermoscopy images + ``*_segmentation.png`` ground truth)."""
    return SAMPLES_DIR

