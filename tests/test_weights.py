"""Weight files are safe to load: round trip, missing/unknown/altered files refused with a
clear message, and a file carrying pickled code is refused without running it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from dermview.errors import DermviewError, WeightsError  # noqa: E402
from dermview.model import weights as wmod  # noqa: E402
from dermview.model.nets import build_model  # noqa: E402

META = {"arch": "dermsegnet", "config": {"width": 8}, "input_size": 64,
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "name": "tiny test net"}


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model("dermsegnet", width=8).eval()


@pytest.fixture()
def saved(tmp_path, tiny_model) -> Path:
    path = tmp_path / "tiny.pt"
    wmod.save_weights(tiny_model, path, dict(META))
    return path


def _rewrite_sha(weights: Path) -> None:
    """Make the metadata's SHA-256 match the file as it is now (an attacker's move)."""
    meta_file = wmod.metadata_path(weights)
    meta = json.loads(meta_file.read_text())
    meta["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    meta_file.write_text(json.dumps(meta))


# --------------------------------------------------------------------------- round trip


def test_round_trip_gives_identical_outputs(saved, tiny_model):
    meta = json.loads(wmod.metadata_path(saved).read_text())
    assert meta["format"] == wmod.FORMAT
    assert meta["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    model, loaded_meta = wmod.load_model(saved)
    assert loaded_meta["name"] == "tiny test net" and not model.training
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), tiny_model(x))


def test_saved_file_holds_tensors_only(saved):
    state = torch.load(saved, weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())


def test_save_requires_metadata_keys(tmp_path, tiny_model):
    with pytest.raises(ValueError, match="input_size"):
        wmod.save_weights(tiny_model, tmp_path / "x.pt", {"arch": "dermsegnet", "config": {}})
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- refused files


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="not found.*absent.pt"):
        wmod.load_model(tmp_path / "absent.pt")


def test_missing_metadata(saved):
    wmod.metadata_path(saved).unlink()
    with pytest.raises(WeightsError, match="tiny.pt has no metadata file .*tiny.json.*not loaded"):
        wmod.load_model(saved)


@pytest.mark.parametrize("text,words", [
    ("{not json", "not valid model metadata"),
    ('["a list"]', "not dermview model metadata"),
    ('{"format": "other/1"}', "not dermview model metadata"),
])
def test_broken_metadata(saved, text, words):
    wmod.metadata_path(saved).write_text(text)
    with pytest.raises(WeightsError, match=words):
        wmod.load_model(saved)


def test_metadata_without_sha(saved):
    meta_file = wmod.metadata_path(saved)
    meta = json.loads(meta_file.read_text())
    del meta["sha256"]
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="lacks 'sha256'"):
        wmod.load_model(saved)


def test_truncated_file_refused_by_sha(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="does not match its recorded SHA-256"):
        wmod.load_model(saved)


def test_truncated_file_with_matching_sha_still_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    _rewrite_sha(saved)
    with pytest.raises(WeightsError, match="tiny.pt is damaged or not a weights file"):
        wmod.load_model(saved)


def test_one_altered_byte_refused_by_sha(saved):
    data = bytearray(saved.read_bytes())
    data[len(data) // 2] ^= 0x01
    saved.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="altered"):
        wmod.verify_weights(saved)
    with pytest.raises(WeightsError, match="altered"):
        wmod.load_model(saved)


@pytest.mark.parametrize("obj", [[1, 2], {"w": [1.0]}, torch.zeros(3)], ids=["list", "dict-of-list", "tensor"])
def test_plain_data_that_is_not_a_state_dict(saved, obj):
    torch.save(obj, saved)
    _rewrite_sha(saved)
    with pytest.raises(WeightsError, match="not a state dict of named tensors"):
        wmod.load_model(saved)


def test_wrong_architecture_refused(saved):
    meta_file = wmod.metadata_path(saved)
    meta = json.loads(meta_file.read_text())
    meta["config"] = {"width": 16}  # tensors no longer fit
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="does not fit architecture 'dermsegnet'"):
        wmod.load_model(saved)


def test_unknown_architecture_refused(saved):
    meta_file = wmod.metadata_path(saved)
    meta = json.loads(meta_file.read_text())
    meta["arch"] = "resnet9000"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match="resnet9000"):
        wmod.load_model(saved)


def test_random_bytes_with_matching_sha(tmp_path, saved):
    saved.write_bytes(os.urandom(4096))
    _rewrite_sha(saved)
    with pytest.raises(WeightsError, match="tiny.pt (is damaged|contains objects other)"):
        wmod.load_model(saved)


# --------------------------------------------------------------------------- code payloads


class _Payload:
    """Unpickling this runs ``os.system`` and ``open``: each would create a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _OpenPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _payload_state(marker: Path, kind: type) -> dict:
    # Looks like a state dict: real tensors, plus one value whose unpickling runs code.
    state = build_model("dermsegnet", width=8).state_dict()
    state["stem.0.conv.weight"] = kind(marker)
    return state


@pytest.mark.parametrize("kind", [_Payload, _OpenPayload])
def test_payload_really_runs_when_unpickled_unsafely(tmp_path, kind):
    """Guard against a test that cannot fail: the payload does act when loaded unsafely."""
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save(_payload_state(marker, kind), buf)
    buf.seek(0)
    torch.load(buf, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("kind", [_Payload, _OpenPayload])
@pytest.mark.parametrize("sha_matches", [False, True], ids=["sha-mismatch", "sha-matches"])
def test_pickled_code_payload_refused_without_running(saved, tmp_path, kind, sha_matches):
    marker = tmp_path / "pwned"
    torch.save(_payload_state(marker, kind), saved)  # replaces the genuine file
    if sha_matches:
        _rewrite_sha(saved)  # so only weights_only=True stands between the file and the code
    with pytest.raises(WeightsError) as info:
        wmod.load_model(saved)
    msg = str(info.value)
    assert "tiny.pt" in msg
    if sha_matches:
        assert "other than tensors (possibly code) and was refused" in msg
    else:
        assert "does not match its recorded SHA-256" in msg
    assert "weights_only" not in msg  # never tell the user how to disable the guard
    assert not marker.exists()


def test_legacy_raw_pickle_payload_refused(saved, tmp_path):
    """An old-style (non-zip) pickle file, SHA-256 matching: still refused, nothing runs."""
    marker = tmp_path / "pwned"
    saved.write_bytes(pickle.dumps({"w": _Payload(marker)}, protocol=2))
    _rewrite_sha(saved)
    with pytest.raises(WeightsError, match="tiny.pt .*possibly code"):
        wmod.load_model(saved)
    assert not marker.exists()


def test_payload_hidden_in_zip_member_refused(saved, tmp_path):
    """Rewrite data.pkl inside the genuine zip with a payload; SHA-256 matching."""
    marker = tmp_path / "pwned"
    src = zipfile.ZipFile(saved)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("data.pkl"):
                data = pickle.dumps(_Payload(marker), protocol=2)
            dst.writestr(item, data)
    src.close()
    saved.write_bytes(out.getvalue())
    _rewrite_sha(saved)
    with pytest.raises(WeightsError, match="possibly code"):
        wmod.load_model(saved)
    assert not marker.exists()


def test_cli_style_message_has_no_traceback(saved, tmp_path, capsys):
    """The CLI prints a WeightsError as one line; the error carries no traceback text."""
    marker = tmp_path / "pwned"
    torch.save(_payload_state(marker, _Payload), saved)
    _rewrite_sha(saved)
    try:
        wmod.load_model(saved)
    except DermviewError as exc:
        text = str(exc)
    else:  # pragma: no cover
        pytest.fail("payload accepted")
    assert "\n" not in text and "Traceback" not in text and len(text) < 400
    assert not marker.exists()


def test_delete_user_model_removes_its_files_and_refuses_bundled_ones(tmp_path, tiny_model):
    mine = tmp_path / "mine.pt"
    wmod.save_weights(tiny_model, mine, {**META, "user_trained": True})
    onnx = tmp_path / "mine.onnx"
    onnx.write_bytes(b"not really onnx")
    wmod.set_onnx_entry(wmod.metadata_path(mine),
                        {"file": "mine.onnx", "sha256": hashlib.sha256(b"x").hexdigest()})
    other = tmp_path / "other.txt"
    other.write_text("stays")
    removed = wmod.delete_user_model(mine)
    assert removed == [mine, onnx, wmod.metadata_path(mine)]  # metadata last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]
    # a model not trained here (the bundled default, a downloaded one) is never deleted
    bundled = tmp_path / "bundled.pt"
    wmod.save_weights(tiny_model, bundled, dict(META))
    with pytest.raises(WeightsError, match="not a model trained here"):
        wmod.delete_user_model(bundled)
    assert bundled.is_file() and wmod.metadata_path(bundled).is_file()
    # an ONNX entry naming a file elsewhere is not followed out of the model's folder
    sub = tmp_path / "sub"
    sub.mkdir()
    evil = sub / "evil.pt"
    wmod.save_weights(tiny_model, evil, {**META, "user_trained": True,
                                         "onnx": {"file": "../other.txt", "sha256": "0"}})
    wmod.delete_user_model(evil)
    assert other.read_text() == "stays" and not evil.exists()
