"""``dermview preprocess --hair-sensitivity``: the value reaches the detection; bad values exit 2."""

from __future__ import annotations

import pytest

from dermview.cli import main
from dermview.io import load_mask


def test_sensitivity_changes_the_hair_found(tmp_path, samples_dir):
    found = {}
    for s in ("0", "1"):
        out = tmp_path / s
        assert main(["preprocess", str(samples_dir / "IMD009.jpg"), "--out", str(out), "--save-masks",
                     "--no-frame", "--hair-sensitivity", s]) == 0
        found[s] = int(load_mask(out / "IMD009_hair.png").sum())
    assert found["1"] > found["0"]  # IMD009's thin hair is found only with the fine-hair pass


@pytest.mark.parametrize("bad", ["-0.1", "1.5", "lots"])
def test_bad_sensitivity_refused(tmp_path, samples_dir, bad):
    with pytest.raises(SystemExit) as exc:
        main(["preprocess", str(samples_dir / "IMD009.jpg"), "--out", str(tmp_path), "--hair-sensitivity", bad])
    assert exc.value.code == 2
