"""The classifier card's issue-13 levers paragraph, from synthetic results files."""

from __future__ import annotations

import json

from training import classifier_card as cc


def _auc(a: float) -> dict[str, float]:
    return {"auc": a, "lo": a - 0.02, "hi": a + 0.02}


def _res(name: str, mel: float, sk: float) -> dict[str, object]:
    return {"name": name, "l2": 0.1, "cv_auc_melanoma": _auc(mel),
            "cv_auc_seborrheic_keratosis": _auc(sk), "cv_auc_mean_mel_sk": (mel + sk) / 2}


def test_levers_paragraph_reports_the_validation_comparison(tmp_path, monkeypatch):
    cv = {"folds": 5, "results": [_res("shipped: Lite0 lesion + whole", 0.81, 0.92),
                                  _res("cand", 0.83, 0.92), _res("other", 0.84, 0.93)],
          "not_run (features not extracted)": [{"name": "big", "missing": ["x"]}]}
    val = {"candidate": {"name": "cand"},
           "val": {"auc_melanoma": {"auc": 0.80}, "auc_seborrheic_keratosis": {"auc": 0.91},
                   "balanced_accuracy": 0.6}}
    enc = {"results": [{"encoder": "lite0", "size": 160, "cpu_ms": 9.0}],
           "lesion_cues": {"lesion_cues_cpu_ms": 15.0, "lesion_cues_mean_cpu_ms": 20.0}}
    for name, obj in (("cv", cv), ("val", val), ("enc", enc)):
        (tmp_path / f"{name}.json").write_text(json.dumps(obj))
    monkeypatch.setattr(cc, "MORE_CV", str(tmp_path / "cv.json"))
    monkeypatch.setattr(cc, "MORE_VAL", str(tmp_path / "val.json"))
    monkeypatch.setattr(cc, "ENC_TIMES", str(tmp_path / "enc.json"))
    bench = {"val": {"auc_melanoma": {"auc": 0.82}, "auc_seborrheic_keratosis": {"auc": 0.90},
                     "balanced_accuracy": 0.66},
             "latency": {"predict_onnxruntime": {"cpu_ms": 31.0}}}
    text = "\n".join(cc.more_levers_lines(bench))
    assert "best five: other 0.885; cand 0.875" in text
    assert "melanoma AUC 0.800 vs 0.820" in text and "worse on melanoma AUC," in text
    assert "unchanged" in text and "Not run" in text and "big" in text
    bench["val"]["auc_melanoma"]["auc"] = 0.79  # the candidate is no worse now
    assert "unchanged" not in "\n".join(cc.more_levers_lines(bench))
    monkeypatch.setattr(cc, "MORE_VAL", str(tmp_path / "missing.json"))
    assert cc.more_levers_lines(bench) == []
