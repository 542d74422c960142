"""Colour-constancy levers of the classifier: cache names per method, and the paired
comparison plumbing of ``training.classifier_colour_constancy`` (synthetic logits)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from dermview.model.colour_constancy import METHODS  # noqa: E402
from training.classifier_colour_constancy import (  # noqa: E402
    BLOCKS,
    CANDIDATES,
    REFERENCE,
    mean_auc,
    paired_delta,
    per_fold,
)
from training.classifier_levers import cache_path  # noqa: E402


def test_cache_paths_name_the_method_and_keep_the_plain_names():
    assert cache_path("c", 160, "lesion", "train").name == "levers_lesion_160_train.npy"
    names = {cache_path("c", 160, "lesion", "train", "lite0", m).name for m in METHODS}
    assert len(names) == len(METHODS)
    assert cache_path("c", 160, "whole", "val", "lite1", "gray_world").name == \
        "levers_lite1_whole_160_grayworld_val.npy"


def test_candidates_use_known_blocks_and_the_reference_comes_first():
    assert CANDIDATES[0][0] == REFERENCE
    assert all(b in BLOCKS for _, members, _ in CANDIDATES for m in members for b in m)
    assert len({c[0] for c in CANDIDATES}) == len(CANDIDATES)
    assert {v[0][3] for v in BLOCKS.values()} <= set(METHODS)


def _logits(y: np.ndarray, signal: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return signal * np.eye(3)[y] + rng.normal(0, 1, (len(y), 3))


def test_paired_delta_and_per_fold():
    y = np.repeat([0, 1, 2], [60, 40, 200])
    good, weak = _logits(y, 2.0, 0), _logits(y, 0.3, 1)
    assert mean_auc(good, y) > 0.85 > mean_auc(weak, y)
    d = paired_delta(good, weak, y, n_boot=200, seed=0)
    assert d["delta"] > 0 and d["lo"] > 0 and d["p_not_better"] == 0.0
    same = paired_delta(good, good, y, n_boot=50, seed=0)
    assert same["delta"] == same["lo"] == same["hi"] == 0.0
    fold = np.arange(len(y)) % 3
    f = per_fold(good, y, fold)
    assert len(f) == 3 and all(0.8 < r["auc_mean_mel_sk"] <= 1.0 for r in f)
