"""Export verified ``.pt`` weights to ONNX and list the export, with its SHA-256, in the same
metadata JSON (the ``onnx`` entry that :mod:`dermview.model.engines` verifies and loads).

    python -m training.export_onnx resources/models/dermview_default.pt resources/models/dermsegnet_w48.pt

The input height and width are exported statically at the metadata ``input_size`` (the
batch stays dynamic): EfficientNet's "same" padding is computed in Python from the input
size, so the legacy (TorchScript) exporter with dynamic height/width bakes the 256-px padding
into the graph and silently crops larger inputs, and the dynamo exporter with dynamic shapes
did not finish. The Segmenter always feeds the network its ``input_size``, so nothing is lost.

After export the ONNX model is run by ONNX Runtime on random inputs and on the bundled
samples (through the Segmenter's own input policy) and compared with torch; the largest
probability difference is recorded in the entry, and the export is refused above
``--tolerance``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OPSET = 17


def export_bytes(model: Any, size: tuple[int, int], opset: int = OPSET) -> bytes:
    """ONNX bytes of ``model`` for a ``(N, 3, h, w)`` float32 input named ``image`` (N dynamic)
    and output ``logits``."""
    import torch

    x = torch.zeros(1, 3, *size)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the baked-in padding
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=opset,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=True)
    return buf.getvalue()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


def compare(model: Any, data: bytes, inputs: list[np.ndarray]) -> float:
    """Largest absolute difference of the sigmoid outputs, torch vs ONNX Runtime."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.inference_mode():
        for x in inputs:
            ref = model(torch.from_numpy(x)).float().numpy()
            out = sess.run(None, {"image": x})[0]
            worst = max(worst, float(np.abs(_sigmoid(out) - _sigmoid(ref)).max()))
    return worst


def sample_inputs(pt: Path, seed: int = 0) -> list[np.ndarray]:
    """Network inputs: two random batches (sizes 1 and 2) and the bundled samples as the
    Segmenter prepares them (torch engine, so no export is needed yet)."""
    from dermview.io import load_image
    from dermview.model.inference import Segmenter
    from dermview.paths import samples_dir

    seg = Segmenter.load(pt, device="cpu", engine="torch", threads=1)
    h, w = seg.input_size
    rng = np.random.default_rng(seed)
    inputs = [rng.standard_normal((n, 3, h, w), dtype=np.float32) for n in (1, 2)]
    for img in sorted(samples_dir().glob("*.jpg")):
        pre = seg.preprocess_params()
        rgb = load_image(img)
        if pre is not None:
            from dermview.preprocess import preprocess

            rgb = preprocess(rgb, pre).image
        inputs.append(seg._to_input(rgb)[0][None])
    return inputs


def export(pt: Path, opset: int = OPSET, tolerance: float = 1e-4) -> dict[str, Any]:
    """Export one weights file; write ``<stem>.onnx`` beside it and its entry in the JSON."""
    import onnxruntime
    import torch

    from dermview.io import atomic_write_bytes
    from dermview.model import weights as wmod

    model, meta = wmod.load_model(pt, device="cpu")  # SHA-256 verified
    size = input_hw(meta)
    data = export_bytes(model, size, opset)
    diff = compare(model, data, sample_inputs(pt))
    if diff > tolerance:
        raise SystemExit(f"{pt.name}: ONNX output differs from torch by {diff:.2e} "
                         f"(> {tolerance:.0e}); not written")
    out = pt.with_suffix(".onnx")
    atomic_write_bytes(out, data)
    entry = {
        "file": out.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source_sha256": meta["sha256"],
        "input_shape": ["batch", 3, *size],
        "opset": opset,
        "exporter": "torch.onnx.export(dynamo=False), static height/width",
        "torch": torch.__version__.split("+")[0],
        "checked_with": f"onnxruntime {onnxruntime.__version__}",
        "max_prob_diff_vs_torch": float(f"{diff:.3g}"),
        "command": "python -m training.export_onnx " + str(pt.relative_to(ROOT)
                                                          if pt.is_relative_to(ROOT) else pt),
    }
    wmod.set_onnx_entry(wmod.metadata_path(pt), entry)
    return entry


def input_hw(meta: dict[str, Any]) -> tuple[int, int]:
    size = meta["input_size"]
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", type=Path, help=".pt files with their .json beside")
    ap.add_argument("--opset", type=int, default=OPSET)
    ap.add_argument("--tolerance", type=float, default=1e-4,
                    help="largest allowed probability difference from torch")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    for pt in args.weights:
        entry = export(pt.resolve(), args.opset, args.tolerance)
        print(f"{pt.with_suffix('.onnx')}: sha256 {entry['sha256'][:16]}…, max probability "
              f"difference from torch {entry['max_prob_diff_vs_torch']:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
