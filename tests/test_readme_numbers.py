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

