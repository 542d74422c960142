"""Engine layer: the one place where a network (segmenter, classifier, refiner...) is loaded,
SHA-256-verified and run, with ONNX Runtime on the CPU or PyTorch on the CPU or CUDA.

```python
eng = load_engine("resources/models/dermview_default.json", engine="auto", device="auto")
logits = eng.run(batch)   # float32 (N, 3, H, W) in, the network's raw float32 output out
eng.name, eng.device, eng.threads, eng.file, eng.sha256
```

A network is described by one metadata JSON (:mod:`dermview.model.weights`): the PyTorch
state dict ``<stem>.pt`` beside it with its SHA-256 (``sha256``), and optionally an ONNX
export (``onnx``: ``file``, ``sha256``, ``input_shape``, ``source_sha256``) written by
``training/export_onnx.py``. Each file is hashed before it is parsed; an altered file, or an
ONNX file exported from other weights than the ``.pt`` the metadata names, is refused.

Engines (``auto`` picks):

- ``onnx``: ONNX Runtime, CPU only; the default on the CPU whenever the metadata lists an
  export and ``onnxruntime`` is installed (the packaged app has no PyTorch).
- ``torch``: PyTorch eager on ``cpu``, ``cuda`` or ``cuda:N``; the default when CUDA is asked
  for or found, and for networks without an ONNX export. Training always uses torch.

Neither torch nor onnxruntime is imported by this module until an engine of that kind is
loaded (or :func:`cuda_available` is asked).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dermview.errors import DeviceError, ModelError, WeightsError
from dermview.model import weights as wmod
from dermview.threads import plan_threads

#: Engine names accepted by :func:`load_engine` (and ``--engine``).
ENGINES = ("auto", "onnx", "torch")

#: Architectures whose torch CPU forward pass is faster in channels-last (NHWC) memory layout,
#: measured by ``benchmarks/bench_inference.py`` (same run, interleaved): dermsegnet 0.66-0.85×
#: the NCHW time; litesegnet (EfficientNet-Lite0 encoder) 1.27×, so it stays NCHW.
CHANNELS_LAST_ARCHS = frozenset({"dermsegnet"})


class Engine(Protocol):
    """A loaded network. ``run`` takes ``float32`` ``(N, C, H, W)`` and returns the network's
    raw ``float32`` output (for the segmenter: logits ``(N, 1, H, W)``)."""

    name: str  # "onnx" or "torch"
    device: str  # "cpu", "cuda", "cuda:1"
    threads: int  # intra-op CPU threads (0 on a GPU)
    file: Path  # the file actually run
    sha256: str  # its verified SHA-256
    meta: dict[str, Any]

    def run(self, batch: np.ndarray) -> np.ndarray: ...


# ----------------------------------------------------------------------------- devices
def has_module(name: str) -> bool:
    """Whether a top-level package is installed (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _torch_build_has_cuda() -> bool:
    """Whether the installed torch was built with CUDA, read from ``torch/version.py``
    without importing torch (a 2-10 s import); True when unsure."""
    try:
        spec = importlib.util.find_spec("torch")
        locations = list(spec.submodule_search_locations or []) if spec else []
        for folder in locations:
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
            for line in text.splitlines():
                if line.startswith("cuda"):  # "cuda: Optional[str] = None" on CPU builds
                    return not line.rstrip().endswith("None")
    except (ImportError, ValueError, OSError):
        pass
    return True


def _nvidia_driver_possible() -> bool:
    """False only where a CUDA device certainly cannot be used: Linux without the NVIDIA
    kernel driver (no ``/proc/driver/nvidia``, no ``/dev/nvidia*``), or macOS."""
    import sys

    if sys.platform == "darwin":
        return False
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia").exists() or any(Path("/dev").glob("nvidia*"))
    return True


def cuda_available() -> bool:
    """Whether torch sees a usable CUDA device (never raises). Torch is imported only when
    a CUDA build of it is installed and an NVIDIA driver may be present, so the CPU default
    (ONNX Runtime) does not pay torch's import time."""
    if not has_module("torch") or not _torch_build_has_cuda() or not _nvidia_driver_possible():
        return False
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - broken torch install
        return False


_NO_TORCH = ("This installation has no PyTorch (the packaged app runs the models with ONNX "
             "Runtime on the CPU); for the GPU or the torch engine install dermview from source "
             "(pip install -e .).")


def resolve_device(device: str | None = "auto") -> str:
    """Map a user's choice (``auto``, ``cpu``, ``cuda``, ``cuda:N``) to a torch device string.

    Raises:
        DeviceError: CUDA requested but not available, or an unknown device name.
    """
    choice = (device or "auto").strip().lower()
    if choice == "auto":
        return "cuda" if cuda_available() else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "cuda" or choice.startswith("cuda:"):
        if not has_module("torch"):
            raise DeviceError("The GPU (CUDA) was requested. " + _NO_TORCH)
        if not cuda_available():
            raise DeviceError(
                "The GPU (CUDA) was requested but no CUDA device is available on this computer "
                "(or this PyTorch build has no CUDA support). Use --device cpu or auto."
            )
        if ":" in choice:
            import torch

            try:
                index = int(choice.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"Unknown device {device!r}; use auto, cpu or cuda") from None
            if not 0 <= index < torch.cuda.device_count():
                raise DeviceError(
                    f"GPU {index} does not exist; this computer has "
                    f"{torch.cuda.device_count()} CUDA device(s)"
                )
        return choice
    raise DeviceError(f"Unknown device {device!r}; use auto, cpu or cuda")


def use_channels_last(meta: dict[str, Any], device: str) -> bool:
    """Whether to run this model channels-last in torch: CPU only; metadata ``channels_last``
    (bool) overrides the per-architecture default :data:`CHANNELS_LAST_ARCHS`."""
    if device != "cpu":
        return False
    flag = meta.get("channels_last")
    if isinstance(flag, bool):
        return flag
    return meta.get("arch") in CHANNELS_LAST_ARCHS


# ----------------------------------------------------------------------------- choice
def engine_problems(meta: dict[str, Any]) -> dict[str, str | None]:
    """Per engine (``onnx``, ``torch``): ``None`` when it can run this network here, else the
    reason (for a greyed-out choice in the app, or an error message)."""
    onnx: str | None = None
    if not isinstance(meta.get("onnx"), dict):
        onnx = ("this model has no ONNX export in its metadata "
                "(python -m training.export_onnx MODEL.pt makes one)")
    elif not has_module("onnxruntime"):
        onnx = "ONNX Runtime is not installed (pip install onnxruntime)"
    torch = None if has_module("torch") else _NO_TORCH
    return {"onnx": onnx, "torch": torch}


def resolve_engine(engine: str | None, device: str | None,
                   meta: dict[str, Any]) -> tuple[str, str]:
    """``(engine, device)`` to use for a user's choice of engine and device.

    ``auto``: torch when CUDA is asked for (or ``device="auto"`` finds it), else ONNX Runtime
    on the CPU when the network has an export and ONNX Runtime is installed, else torch.

    Raises:
        ModelError: unknown engine, or the chosen engine cannot run here.
        DeviceError: CUDA asked for with the ONNX engine, or absent.
    """
    choice = (engine or "auto").strip().lower()
    if choice not in ENGINES:
        raise ModelError(f"Unknown engine {engine!r}; use {', '.join(ENGINES)}")
    dev = (device or "auto").strip().lower()
    problems = engine_problems(meta)
    if choice == "auto":
        wants_gpu = dev.startswith("cuda") or (dev == "auto" and cuda_available())
        choice = "torch" if wants_gpu or problems["onnx"] is not None else "onnx"
    if choice == "onnx":
        if dev.startswith("cuda"):
            raise DeviceError("The ONNX Runtime engine runs on the CPU only; use --engine torch "
                              "(or auto) for the GPU.")
        if dev not in ("auto", "cpu"):
            raise DeviceError(f"Unknown device {device!r}; use auto, cpu or cuda")
        if problems["onnx"] is not None:
            raise ModelError(f"The ONNX Runtime engine cannot be used: {problems['onnx']}")
        return "onnx", "cpu"
    if problems["torch"] is not None:
        if dev.startswith("cuda"):
            raise DeviceError("The GPU (CUDA) was requested. " + _NO_TORCH)
        raise ModelError(f"The torch engine cannot be used: {problems['torch']}")
    return "torch", resolve_device(device)


def load_engine(metadata: str | Path, engine: str = "auto", device: str | None = "auto",
                threads: int | None = None) -> Engine:
    """Load and verify a network.

    Args:
        metadata: the network's metadata ``.json`` (or the ``.pt`` beside it).
        engine: ``auto``, ``onnx`` or ``torch`` (see :func:`resolve_engine`).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        threads: intra-op CPU threads; ``None`` = the cores free now
            (:func:`dermview.threads.plan_threads`).

    Raises:
        WeightsError: missing, unknown, altered or unsafe files.
        DeviceError, ModelError: see :func:`resolve_engine`.
    """
    json_path = wmod.metadata_path(metadata)
    meta = wmod.read_metadata_file(json_path)
    name, dev = resolve_engine(engine, device, meta)
    if dev == "cpu":
        threads = plan_threads().network if threads is None else max(1, int(threads))
    else:
        threads = 0
    if name == "onnx":
        return OnnxEngine.load(json_path, meta, threads)
    return TorchEngine.load(json_path, meta, dev, threads)


# ----------------------------------------------------------------------------- ONNX Runtime
class OnnxEngine:
    """A network run by ONNX Runtime on the CPU (static input height and width)."""

    name = "onnx"
    device = "cpu"

    def __init__(self, session: Any, meta: dict[str, Any], file: Path, sha256: str,
                 threads: int) -> None:
        self.session = session
        self.meta = meta
        self.file = file
        self.sha256 = sha256
        self.threads = threads
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.input_chw = tuple(d if isinstance(d, int) else None for d in inp.shape[1:])

    @classmethod
    def load(cls, json_path: Path, meta: dict[str, Any], threads: int) -> OnnxEngine:
        import onnxruntime as ort

        file, data, sha = wmod.read_onnx(json_path, meta)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3  # errors only
        # Idle pool threads sleep instead of spinning: spinning steals the cores that
        # the image-preparing threads and other programs need.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
            raise WeightsError(f"{file.name} is not a usable ONNX model: "
                               f"{str(exc).strip().splitlines()[0][:200]}") from None
        return cls(session, meta, file, sha, threads)

    def run(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        want = self.input_chw
        if batch.ndim != 4 or any(w is not None and w != g
                                  for w, g in zip(want, batch.shape[1:], strict=True)):
            raise ValueError(f"{self.file.name} takes (N, {', '.join(map(str, want))}) input, "
                             f"got {batch.shape}")
        try:
            out = self.session.run(None, {self.input_name: batch})[0]
        except Exception as exc:  # noqa: BLE001
            if "alloc" in str(exc).lower():
                raise MemoryError("not enough memory to run the model") from None
            raise
        return np.asarray(out, dtype=np.float32)


# ----------------------------------------------------------------------------- PyTorch
class TorchEngine:
    """A network run by PyTorch eager mode on the CPU or a CUDA device."""

    name = "torch"

    def __init__(self, model: Any, meta: dict[str, Any], device: str, file: Path, sha256: str,
                 threads: int) -> None:
        self.model = model
        self.meta = meta
        self.device = device
        self.file = file
        self.sha256 = sha256
        self.threads = threads
        self.channels_last = use_channels_last(meta, device)

    @classmethod
    def load(cls, json_path: Path, meta: dict[str, Any], device: str,
             threads: int) -> TorchEngine:
        import torch

        pt = json_path.with_suffix(".pt")
        if threads:
            torch.set_num_threads(threads)  # process-wide, as torch has it
        try:
            model, meta = wmod.load_model(pt, device=device)
        except (RuntimeError, AssertionError) as exc:  # GPU too old for this build, busy, ...
            if device == "cpu":
                raise
            raise DeviceError(
                f"The model could not be moved to the GPU ({device}): "
                f"{str(exc).splitlines()[0]}. Use --device cpu."
            ) from None
        if use_channels_last(meta, device):
            model = model.to(memory_format=torch.channels_last)
        return cls(model, meta, device, pt, meta["sha256"], threads)

    def run(self, batch: np.ndarray) -> np.ndarray:
        import torch

        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
                t = t.to(self.device)
                if self.channels_last:
                    t = t.contiguous(memory_format=torch.channels_last)
                return self.model(t).float().cpu().numpy()
        except torch.OutOfMemoryError:
            if self.device == "cpu":
                raise MemoryError("not enough memory to run the model") from None
            torch.cuda.empty_cache()
            raise DeviceError(
                f"The GPU ({self.device}) ran out of memory; close other GPU programs or use "
                "the CPU (--device cpu)."
            ) from None
