"""Device choice, mixed precision and pickling of the torch estimators."""

from __future__ import annotations

import contextlib
import copy

import torch

__all__ = ["DevicePickleMixin", "autocast", "mixed_precision_dtype", "resolve_device"]


def resolve_device(device) -> torch.device:
    """Turn the ``device`` parameter into a ``torch.device``.

    ``"auto"`` (or None) picks CUDA when available, else CPU. An explicit CUDA (or MPS) device
    that is not available raises: radfuse never falls back to the CPU silently when a GPU was
    asked for.
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was asked for, but CUDA is not available (torch "
                f"{torch.__version__}, torch.cuda.is_available() is False). Install a CUDA build "
                "of PyTorch on a machine with an NVIDIA GPU, or use device='auto' (CUDA when "
                "present, else CPU) or device='cpu'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) are visible."
            )
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"device={device!r} was asked for, but MPS is not available.")
    elif dev.type != "cpu":
        raise ValueError(f"device={device!r}: radfuse supports 'auto', 'cpu', 'cuda[:N]', 'mps'.")
    return dev


def mixed_precision_dtype(mixed_precision, device: torch.device):
    """The autocast dtype of the ``mixed_precision`` parameter on ``device`` (None: no autocast).

    ``"auto"`` is bf16 on a CUDA device that supports it, fp16 on an older one and nothing
    elsewhere; ``"bf16"`` and ``"fp16"`` require a CUDA device.
    """
    if mixed_precision in (False, None):
        return None
    if device.type != "cuda":
        if mixed_precision == "auto":
            return None
        raise ValueError(
            f"mixed_precision={mixed_precision!r} runs on CUDA only, but the device is {device}; "
            "use mixed_precision='auto' (CUDA only) or False."
        )
    if mixed_precision == "fp16":
        return torch.float16
    if mixed_precision == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def autocast(device: torch.device, dtype):
    """``torch.autocast`` for ``dtype`` on ``device``, or a no-op context when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class DevicePickleMixin:
    """Pickling of a fitted ``module_`` / ``device_``: saved on the CPU, loaded where possible.

    A model trained on a GPU stores its weights on the CPU, so it unpickles on any machine; it
    goes back to its CUDA device when that device is visible there, else it stays on the CPU.
    """

    def __getstate__(self):
        # A copy: object.__getstate__ may return the live __dict__.
        state = dict(super().__getstate__())
        module = state.get("module_")
        if module is not None and any(
            t.device.type != "cpu" for t in [*module.parameters(), *module.buffers()]
        ):
            state["module_"] = copy.deepcopy(module).to("cpu")
        if "device_" in state:
            state["device_"] = str(state["device_"])
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "device_" in state:
            dev = torch.device(state["device_"])
            if dev.type == "cuda" and not (
                torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
            ):
                dev = torch.device("cpu")
            self.device_ = dev
            if getattr(self, "module_", None) is not None:
                self.module_.to(dev)
