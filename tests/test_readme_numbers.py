"""The README's generated numbers (benchmarks/readme_numbers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import readme_numbers  # noqa: E402

MEM = {"images": 500, "images_per_s": 23.89, "peak_first_10pct_mb": 173.8,
       "peak_last_50pct_mb": 187.3,
       "rss_mb_when_images_written": {"50": 174.6, "250": 182.3, "500": None}}


def test_memory_line_leaves_out_a_mark_never_sampled():
    line = readme_numbers.memory_line(MEM)
    assert "None" not in line and "at the end" not in line
    assert "174.6 MB after 50 images, 182.3 MB after 250;" in line


def test_memory_line_gives_the_end_or_the_last_sample():
    done = {**MEM, "rss_mb_when_images_written": {"50": 174.6, "250": 182.3, "500": 185.0}}
    assert "182.3 MB after 250, 185.0 MB at the end;" in readme_numbers.memory_line(done)
    last = {**MEM, "last_sample": {"images_written": 488, "rss_mb": 186.1}}
    assert "186.1 MB at the last sample (488 images written);" in readme_numbers.memory_line(last)



LEVERS = {"seeds": [0, 1, 2], "load_average_1min": 1.25,
          "always_present_f1": {"white": 0.19, "red": 0.1}, "positives": {"white": 16, "red": 8},
          "levers": [{"lever": "shipped", "n_features": 141, "mean_f1_mean": 0.6234,
                      "mean_f1_sd": 0.0201, "mean_f1_min": 0.599, "mean_f1_max": 0.653,
                      "n_colors_kappa_qw_mean": 0.501,
                      "f1_mean": {"white": 0.49, "red": 0.1, "blue_gray": 0.75, "black": 0.65}}]}


def test_color_levers_table_gives_the_spread_over_seeds():
    lines = readme_numbers.color_levers_lines(LEVERS)
    assert "fold seeds 0-2" in lines[0]
    assert lines[2] == "| shipped (141 features) | 0.623 ± 0.020 (0.599-0.653) | 0.49 | 0.10 | 0.75 | 0.65 | 0.501 |"
    assert "white 0.19 (16 positives), red 0.10 (8 positives); load average 1.2." in lines[-1]


def _family(name, failures, tj, choice):
    return {"family": name, "rule": "thr_jaccard", "choice_on_all": choice,
            "held_out": {"failures": failures, "thresholded_jaccard": tj, "dice": 0.9},
            "d_failures": failures - 22, "d_thresholded_jaccard": tj - 0.805, "d_dice": 0.0}


def test_levers_verdict_needs_better_held_out_and_time_within_budget():
    lev = {"default": {"failures": 22, "thresholded_jaccard": 0.805},
           "families": [_family("clean", 22.0, 0.804, "plain|0.5|close0.02"),
                        _family("gated", 21.0, 0.808, "gate0.8|0.5|one"),
                        _family("tta", 20.6, 0.8085, "h|0.45|blur0.005")]}
    timing = {"rows": {"default": {"mean_ms": 80.0},
                       "gate0.8": {"mean_ms": 85.0, "projected_mean_ms": 95.0},
                       "tta": {"mean_ms": 140.0}}}
    v = readme_numbers.levers_verdict(lev, timing)
    assert not v["clean"]["better"] and not v["clean"]["ship"]
    assert v["gated"]["ship"] and v["gated"]["ms"] == 95.0  # the projection, not the 512-px set
    assert v["tta"]["better"] and not v["tta"]["ship"]
    slow = {"rows": {**timing["rows"], "gate0.8": {"mean_ms": 90.0, "projected_mean_ms": 104.0}}}
    assert not readme_numbers.levers_verdict(lev, slow)["gated"]["ship"]
    assert readme_numbers.levers_verdict(lev, None)["gated"]["ms"] is None
