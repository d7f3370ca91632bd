"""Bring-your-own features: NumPy .npz files.

Layout, either
  DIR/train.npz, DIR/valid.npz, DIR/test.npz   one file per part (the given split), or
  FILE.npz with a `groups` array                folds by group, like actors.

Arrays in each file (N samples):
  labels        (N,) int class indices, or (N, K) 0/1 for a multi-label task
  ids           optional (N,) str, unique sample ids (default "<name>/<part>/<index>")
  groups        optional (N,) int or str group (speaker, actor); required for a single file
  class_names   optional (C,) str
  sample_rate   optional scalar int; makes a 1-D modality named "audio" a waveform
  any other name is a modality:
    (N, 3, T, H, W) uint8, or float in [0, 1]  -> "frames" (video)
    (N, L) float named "audio" with sample_rate -> "waveform"
    (N, T, D) float                             -> "features"
    (N, D) float                                -> "features", stored as (N, 1, D)
NaN or Inf in a float array is an error naming the file and array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tacfn.core.errors import DataError
from tacfn.data.base import EmotionDataset, check_finite
from tacfn.data.info import DatasetInfo, Split

RESERVED = ("labels", "ids", "groups", "class_names", "sample_rate")
PARTS = ("train", "valid", "test")


def _read(file: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise DataError(f"{file}: cannot read .npz ({type(exc).__name__}: {exc})") from None
    if "labels" not in arrays:
        raise DataError(f"{file}: no 'labels' array; expected labels (N,) or (N, K)")
    return arrays


def _modality(file: Path, name: str, x: np.ndarray, rate: int | None) -> tuple[str, torch.Tensor]:
    """(kind, tensor) for one modality array."""
    if x.ndim == 5 and x.shape[1] == 3:
        if x.dtype == np.uint8:
            return "frames", torch.from_numpy(x)
        x = x.astype(np.float32)
        check_finite(x, f"{file}: array {name!r}")
        if x.min() < 0 or x.max() > 1:
            raise DataError(f"{file}: frames {name!r} outside [0, 1]; expected uint8 or [0, 1]")
        return "frames", torch.from_numpy(x)
    if x.dtype.kind not in "fiu":
        raise DataError(f"{file}: array {name!r} has dtype {x.dtype}; expected numbers")
    x = x.astype(np.float32)
    check_finite(x, f"{file}: array {name!r}")
    if x.ndim == 2 and name == "audio" and rate is not None:
        return "waveform", torch.from_numpy(x)
    if x.ndim == 2:
        return "features", torch.from_numpy(x[:, None, :])
    if x.ndim == 3:
        return "features", torch.from_numpy(x)
    raise DataError(
        f"{file}: array {name!r} has shape {x.shape}; expected (N, 3, T, H, W), (N, T, D) or (N, D)"
    )


def load_npz(path: str, name: str | None = None) -> EmotionDataset:
    """Load a folder of train/valid/test .npz files or one .npz with `groups`."""
    root = Path(path)
    if root.is_dir():
        files = [root / f"{p}.npz" for p in PARTS]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DataError(f"{missing[0]}: missing; expected {', '.join(PARTS)}.npz in {root}")
        parts = list(PARTS)
    elif root.is_file():
        files, parts = [root], ["all"]
    else:
        raise DataError(f"{root}: no such file or folder; expected a .npz file or a folder")
    name = name or root.stem
    loaded = [_read(f) for f in files]
    first = loaded[0]
    modalities = tuple(k for k in first if k not in RESERVED)
    if not modalities:
        raise DataError(f"{files[0]}: no modality arrays besides {', '.join(RESERVED)}")
    rate = int(first["sample_rate"]) if "sample_rate" in first else None
    columns: dict[str, list[torch.Tensor]] = {m: [] for m in modalities}
    kinds: dict[str, str] = {}
    labels, ids, part_col, groups = [], [], [], []
    for file, arrays, part in zip(files, loaded, parts, strict=True):
        y = arrays["labels"]
        n = len(y)
        if y.dtype.kind not in "iub":
            raise DataError(f"{file}: labels have dtype {y.dtype}; expected integers")
        for m in modalities:
            if m not in arrays:
                raise DataError(f"{file}: no array {m!r} (present in {files[0].name})")
            if len(arrays[m]) != n:
                raise DataError(f"{file}: array {m!r} has {len(arrays[m])} rows, labels {n}")
            kinds[m], tensor = _modality(file, m, arrays[m], rate)
            columns[m].append(tensor)
        labels.append(y.astype(np.int64))
        own = arrays.get("ids")
        ids.extend(
            [str(i) for i in own]
            if own is not None
            else [f"{name}/{part}/{i:05d}" for i in range(n)]
        )
        part_col.extend([part] * n)
        if "groups" in arrays:
            groups.append(arrays["groups"])
    if len(files) == 1 and not groups:
        raise DataError(f"{files[0]}: a single .npz needs a 'groups' array to build folds")
    inputs = {m: torch.cat(v) for m, v in columns.items()}
    y = torch.from_numpy(np.concatenate(labels))
    multilabel = y.ndim == 2
    if "class_names" in first:
        class_names = tuple(str(c) for c in first["class_names"])
    else:
        count = y.shape[1] if multilabel else int(y.max()) + 1
        class_names = tuple(f"class_{i}" for i in range(count))
    if (
        multilabel
        and y.shape[1] != len(class_names)
        or not multilabel
        and (int(y.min()) < 0 or int(y.max()) >= len(class_names))
    ):
        raise DataError(f"{files[0]}: labels do not match {len(class_names)} classes")
    info = DatasetInfo(
        name=name,
        modalities=modalities,
        kinds=kinds,
        shapes={m: tuple(x.shape[1:]) for m, x in inputs.items()},
        num_classes=len(class_names),
        class_names=class_names,
        task="multilabel" if multilabel else "multiclass",
        sample_rate=rate,
        extra={"path": str(root)},
    )
    meta = pd.DataFrame({"part": part_col})
    group_arr = np.concatenate(groups) if len(files) == 1 else None
    given = None
    if len(files) > 1:
        part_arr = np.array(part_col)
        given = Split(
            "given",
            np.flatnonzero(part_arr == "train"),
            np.flatnonzero(part_arr == "valid"),
            np.flatnonzero(part_arr == "test"),
        )
    else:
        meta["group"] = group_arr
    return EmotionDataset(info, inputs, y, ids, meta, groups=group_arr, given_split=given)
