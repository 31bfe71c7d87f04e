"""Offline datasets, pinned by content hash. Nothing here downloads.

- ``digits`` (scikit-learn's bundled 8x8 handwritten digits, 1797 images, 10 classes),
- ``breast_cancer`` (scikit-learn's bundled WDBC, 569 x 30, binary),
- ``mnist`` / ``cifar10`` from a local folder in torchvision's on-disk layout
  (``DIR/MNIST/raw/*-idx?-ubyte[.gz]``, ``DIR/cifar-10-batches-py/``), given by ``--data``.

Splits are fixed (stratified, ``split_seed`` 0) so that seeds vary only the training.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DataError", "Dataset", "load"]

# sha256 of the float32/int64 arrays of the split below, recorded with scikit-learn 1.9.1.
PINNED = {
    "digits": "2e18e9d139bb186142b6c08184a2d06bb6027b49b99e82ef1ecf8346a82873a4",
    "breast_cancer": "730c3a560afe2cac17ab673fc2f0da543719b80819449d37f8ec8dd12f18c270",
}


class DataError(RuntimeError):
    """A dataset is missing or malformed (reported as a usage error)."""


@dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # float32, standardized with training statistics
    y_train: np.ndarray  # int64
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple[int, ...] | None  # (C, H, W) when the rows are images
    source: str

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    @property
    def pinned(self) -> bool | None:
        """True/False against the pinned hash; None for user data (nothing to pin)."""
        expected = PINNED.get(self.name)
        return None if not expected else expected == self.sha256

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "sha256": self.sha256,
                "pinned": self.pinned, "train": int(len(self.y_train)),
                "test": int(len(self.y_test)), "classes": self.n_classes}


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in np.unique(y):
        index = rng.permutation(np.flatnonzero(y == label))
        cut = int(round(len(index) * test_fraction))
        test.append(index[:cut])
        train.append(index[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _subsample(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(keep))


def _finish(name, x, y, n_classes, image_shape, source, *, per_feature: bool,
            test_fraction: float = 0.25) -> Dataset:
    x = x.astype(np.float64)
    y = y.astype(np.int64)
    train, test = _stratified_split(y, test_fraction)
    if per_feature:
        mean, std = x[train].mean(axis=0), x[train].std(axis=0)
        std[std == 0] = 1.0
    else:  # images: one scalar, so the spatial structure is kept
        mean, std = x[train].mean(), x[train].std()
    x = ((x - mean) / std).astype(np.float32)
    return Dataset(name, x[train], y[train], x[test], y[test], n_classes, image_shape, source)


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return _finish("digits", bunch.data, bunch.target, 10, (1, 8, 8),
                   "sklearn.datasets.load_digits", per_feature=False)


def _breast_cancer() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    return _finish("breast_cancer", bunch.data, bunch.target, 2, None,
                   "sklearn.datasets.load_breast_cancer", per_feature=True)


def _read_idx(path: Path) -> np.ndarray:
    raw = path.read_bytes()
    if path.suffix == ".gz":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0:2] != b"\0\0" or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: truncated IDX file")
    return data.reshape(dims)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"missing {folder / stem}[.gz] (torchvision layout: DIR/MNIST/raw/)")


def _mnist(root: Path, per_class: int | None) -> Dataset:
    raw = root / "MNIST" / "raw"
    if not raw.is_dir():
        raise DataError(f"no MNIST/raw folder under {root}")
    x = np.concatenate([_read_idx(_find(raw, "train-images-idx3-ubyte")),
                        _read_idx(_find(raw, "t10k-images-idx3-ubyte"))])
    y = np.concatenate([_read_idx(_find(raw, "train-labels-idx1-ubyte")),
                        _read_idx(_find(raw, "t10k-labels-idx1-ubyte"))])
    if per_class:
        keep = _subsample(y, per_class)
        x, y = x[keep], y[keep]
    return _finish("mnist", x.reshape(len(x), -1) / 255.0, y, 10, (1, 28, 28),
                   f"{raw} (torchvision layout)", per_feature=False, test_fraction=0.2)


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR's python batches are pickles: allow only what a numpy array needs."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
                ("numpy", "dtype"), ("numpy._core.multiarray", "_reconstruct"),
                ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise DataError(f"refusing to unpickle {module}.{name} from a CIFAR batch")


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        return np.asarray(batch[b"data"], dtype=np.uint8), np.asarray(batch[b"labels"])
    except (pickle.UnpicklingError, KeyError, EOFError, TypeError) as error:
        raise DataError(f"{path}: not a CIFAR-10 python batch ({error})") from None


def _cifar10(root: Path, per_class: int | None) -> Dataset:
    folder = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(f"missing {', '.join(missing)} in {folder}")
    parts = [_cifar_batch(folder / n) for n in names]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    if per_class:
        keep = _subsample(y, per_class)
        x, y = x[keep], y[keep]
    return _finish("cifar10", x / 255.0, y, 10, (3, 32, 32),
                   f"{folder} (torchvision layout)", per_feature=False, test_fraction=1 / 6)


def load(name: str, data_dir: Path | None = None, per_class: int | None = None) -> Dataset:
    """Load a dataset by name; ``image`` means the user's MNIST/CIFAR if given, else digits."""
    if name == "image":
        if data_dir is None:
            return _digits()
        if (data_dir / "MNIST").is_dir():
            return _mnist(data_dir, per_class)
        if (data_dir / "cifar-10-batches-py").is_dir():
            return _cifar10(data_dir, per_class)
        raise DataError(f"{data_dir}: expected MNIST/raw/ or cifar-10-batches-py/ inside")
    if name == "digits":
        return _digits()
    if name == "breast_cancer":
        return _breast_cancer()
    raise DataError(f"unknown dataset {name!r}")
