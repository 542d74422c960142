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



def _torch_threads(n: int, clear_model_cache: bool):
    import torch

    from dermview.model import inference

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    if clear_model_cache:
        inference.clear_cache()
    yield
    torch.set_num_threads(old)
    if clear_model_cache:
        inference.clear_cache()


@pytest.fixture
def one_torch_thread():
    """PyTorch on one thread for the test (restored after), the model cache cleared before and
    after (a test that loads weights of its own gets them, not a cached model)."""
    yield from _torch_threads(1, clear_model_cache=True)


@pytest.fixture
def two_torch_threads():
    """PyTorch on two threads for the test (this machine's cores; restored after)."""
    yield from _torch_threads(2, clear_model_cache=False)
