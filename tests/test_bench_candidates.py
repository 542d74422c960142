"""The shipping rule of benchmarks/bench_candidates.py."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from bench_candidates import summarise, verdicts  # noqa: E402


def _row(name: str, dice: list[float], jac: list[float], ms: float = 80.0) -> dict:
    vals = [("isic2017", d, j) for d, j in zip(dice, jac, strict=True)]
    return {"name": name, "segment_ms": ms, "variants": {"plain|one": summarise(vals)}}


def test_summarise_counts_failures_and_zeroes_them_in_thresholded_jaccard():
    s = summarise([("isic2017", 0.9, 0.8), ("ph2", 0.5, 0.3)])
    assert s["failures"] == 1 and s["failure_share"] == 0.5
    assert abs(s["thresholded_jaccard"] - 0.4) < 1e-12 and abs(s["jaccard"] - 0.55) < 1e-12
    assert s["isic2017_dice"] == 0.9


def test_ship_only_when_better_on_failures_and_thresholded_jaccard_and_dice_kept():
    base = _row("shipped", [0.9, 0.9, 0.5], [0.8, 0.8, 0.4])
    better = _row("better", [0.9, 0.9, 0.8], [0.8, 0.8, 0.7])
    fewer_but_lower_dice = _row("lower", [0.7, 0.7, 0.79], [0.66, 0.66, 0.66])
    too_slow = _row("slow", [0.9, 0.9, 0.8], [0.8, 0.8, 0.7], ms=140.0)
    v = verdicts([base, better, fewer_but_lower_dice, too_slow])
    assert v["better"]["ship"] and v["better"]["d_failures"] == -1
    assert v["lower"]["fewer_failures"] and not v["lower"]["dice_not_lower"]
    assert not v["lower"]["ship"]
    assert not v["slow"]["ship"] and not v["slow"]["within_latency"]
    assert "shipped" not in v and verdicts([better]) == {}
