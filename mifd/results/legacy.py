"""The former format of results and checkpoints (a checksum line, then ``torch.save``'s pickle),
read only for the one-time conversion (``mifd convert-results``) with an unpickler that
resolves only the numpy and torch array constructors such files use (no other global, hence no
code). :func:`mifd.results.blobs.load_blob` refuses these files."""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from .blobs import MAX_UNPACKED, CorruptFileError, is_legacy


_NUMPY = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
          ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "scalar"),
          ("numpy", "ndarray"), ("numpy", "dtype")}
_STORAGES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64,
             "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
             "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
             "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
             "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128}


class _StorageKind:
    def __init__(self, dtype: torch.dtype):
        self.dtype = dtype


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any,
                    hooks: Any, metadata: Any = None) -> torch.Tensor:
    if (not isinstance(storage, torch.storage.TypedStorage) or type(offset) is not int
            or not all(type(x) is int for x in (*size, *stride)) or type(requires_grad) is not bool
            or hooks or metadata):
        raise pickle.UnpicklingError("a tensor not written by torch.save")
    t = torch.empty((0,), dtype=storage.dtype)
    t.set_(storage._untyped_storage, offset, tuple(size), tuple(stride))
    return t.requires_grad_(requires_grad) if requires_grad else t


class _LegacyUnpickler(pickle.Unpickler):
    """Resolves only the array constructors of the former format (an allow-list): a pickle
    naming anything else (``os.system``, ``builtins.eval`` …) is refused before it is called."""

    def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str):
        super().__init__(io.BytesIO(data))
        self.zf, self.prefix = zf, prefix

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY:
            try:
                import numpy._core.multiarray as ma
            except ImportError:  # numpy < 2
                import numpy.core.multiarray as ma  # type: ignore[no-redef]
            return {"_reconstruct": ma._reconstruct, "scalar": ma.scalar,
                    "ndarray": np.ndarray, "dtype": np.dtype}[name]
        if (module, name) == ("_codecs", "encode"):
            import codecs
            return codecs.encode
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGES:
            return _StorageKind(_STORAGES[name])
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageKind) and isinstance(pid[2], str)
                and re.fullmatch(r"[0-9]+", pid[2]) and type(pid[4]) is int):
            raise pickle.UnpicklingError("a storage reference not written by torch.save")
        dtype = pid[1].dtype
        data = self.zf.read(f"{self.prefix}/data/{pid[2]}")
        if len(data) != pid[4] * torch.empty(0, dtype=dtype).element_size():
            raise pickle.UnpicklingError(f"storage {pid[2]}: {len(data)} bytes")
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else \
            torch.empty(0, dtype=torch.uint8)
        return torch.storage.TypedStorage(wrap_storage=raw.untyped_storage(), dtype=dtype,
                                          _internal=True)


def read_legacy(raw: bytes, path: Any = "file", max_unpacked: int = MAX_UNPACKED) -> Any:
    """Decode a file of the former format (checksum line, then ``torch.save``'s zip) with
    the allow-list unpickler (``_LegacyUnpickler``): arrays, tensors and plain Python
    values only; raises :class:`~mifd.results.blobs.CorruptFileError` for anything else."""
    head, sep, payload = raw.partition(b"\n")
    if not is_legacy(raw) or hashlib.sha256(payload).hexdigest().encode() != head:
        raise CorruptFileError(f"{path}: not a former-format file or checksum mismatch")
    try:
        z = zipfile.ZipFile(io.BytesIO(payload))
        if sum(i.file_size for i in z.infolist()) > max_unpacked:
            raise CorruptFileError(f"{path}: more than {max_unpacked} bytes unpacked")
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise CorruptFileError(f"{path}: no single data.pkl")
        prefix = pkl[0].split("/")[0]
        order = z.read(f"{prefix}/byteorder") if f"{prefix}/byteorder" in z.namelist() else b"little"
        if order != b"little":
            raise CorruptFileError(f"{path}: byte order {order!r}")
        return _LegacyUnpickler(z.read(pkl[0]), z, prefix).load()
    except CorruptFileError:
        raise
    except Exception as e:
        raise CorruptFileError(f"{path}: cannot convert ({e.__class__.__name__}: {e})") from None
