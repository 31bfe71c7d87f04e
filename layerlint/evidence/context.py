"""The run context handed to evidence modules: mode, device, data, seeding.

Imports torch: only ``layerlint verify`` reaches this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from layerlint.evidence import data as _data

__all__ = ["Context", "TensorData", "configure_determinism", "resolve_device"]

MODES = ("smoke", "quick", "full")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise _data.DataError("--device cuda: no CUDA device is available")
    return torch.device(name)


def configure_determinism(device: torch.device, threads: int = 1) -> None:
    """Deterministic kernels; the thread count is fixed because it changes CPU reductions."""
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


@dataclass
class TensorData:
    """A dataset resident on the device, as float32 features and int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    image_shape: tuple[int, ...] | None
    info: dict

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])

    def images(self) -> TensorData:
        """The same data with rows reshaped to (C, H, W)."""
        if self.image_shape is None:
            raise ValueError(f"{self.name} has no image shape")
        shape = (-1, *self.image_shape)
        return TensorData(self.name, self.x_train.reshape(shape), self.y_train,
                          self.x_test.reshape(shape), self.y_test, self.n_classes,
                          self.image_shape, self.info)


@dataclass
class Context:
    mode: str = "quick"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    data_dir: Path | None = None
    _cache: dict[str, TensorData] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")

    def budget(self, smoke: Any, quick: Any, full: Any) -> Any:
        """Pick a per-mode value (epochs, widths, subset sizes)."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.mode]

    def data(self, name: str) -> TensorData:
        """A dataset on the device; smoke mode keeps 256 training rows to stay fast."""
        if name not in self._cache:
            per_class = self.budget(60, 500, None)
            raw = _data.load(name, self.data_dir, per_class=per_class)
            def tensor(array, dtype):
                return torch.as_tensor(array, dtype=dtype, device=self.device)
            rows = 256 if self.mode == "smoke" else len(raw.y_train)
            self._cache[name] = TensorData(
                raw.name, tensor(raw.x_train[:rows], torch.float32),
                tensor(raw.y_train[:rows], torch.int64), tensor(raw.x_test, torch.float32),
                tensor(raw.y_test, torch.int64), raw.n_classes, raw.image_shape,
                raw.describe())
        return self._cache[name]

    def datasets(self) -> dict[str, dict]:
        return {name: data.info for name, data in self._cache.items()}

    def seed(self, seed: int) -> torch.Generator:
        """Seed the global RNG (initial weights, dropout masks); return the batch-order RNG."""
        torch.manual_seed(seed)
        generator = torch.Generator()
        generator.manual_seed(10_000 + seed)
        return generator
