"""Data files: results and checkpoints stored as data that cannot run code when read.

A *data file* (``result.bin``, ``checkpoint.bin``, a cached data set) is one line and a zip:

* ``mifd-data-1 <SHA-256 of the zip>\\n`` — the format and a checksum, so a truncated or
  corrupt file is detected;
* a zip (deterministic: fixed dates and order; deflated for results, stored for checkpoints) of ``tree.json`` and one ``<n>.npy`` per
  array (``numpy.lib.format.write_array``, read with ``allow_pickle=False``).

``tree.json`` holds the structure and every scalar: ``null``, booleans, integers, strings and
finite floats as JSON (Python's float repr round-trips exactly), lists and plain dicts (string
keys not starting with ``$``) as themselves; everything else as a tagged object:

* ``{"$float": "<16 hex digits>"}`` — a non-finite float, its IEEE-754 bits (NaN payloads too);
* ``{"$tuple": [...]}``; ``{"$dict": [[key, value], ...]}`` — a dict with other keys (the
  integer keys of an optimizer's state), keys encoded like values, order kept;
* ``{"$array": "3"}`` — a numpy array (member ``3.npy``); ``{"$scalar": "4"}`` — a numpy scalar
  (a 0-d array, read back as the scalar of its dtype);
* ``{"$tensor": "5", "dtype": "bfloat16"}`` — a CPU torch tensor (a random generator's state,
  model and optimizer tensors), stored as the numpy array of its bits (``bfloat16`` and the
  ``float8`` kinds as ``int16``/``uint8`` of the same bits); ``"requires_grad": true`` and
  ``"parameter": true`` where they hold.

The same array object referenced twice is stored once and read back as one object. Anything
else (an object, a function, an array of Python objects) is refused when written: results are
data. Reading never unpickles; sizes are checked against a bound before anything is
decompressed or allocated.

The former format (the checksum line, then ``torch.save``'s pickle) is recognised and
refused when read (:class:`LegacyFormatError`); :func:`mifd.results.legacy.read_legacy` decodes it for the one-time
conversion (``mifd convert-results``) with an unpickler that resolves only the numpy and torch
array constructors such files use (no other global, hence no code) — see
:mod:`mifd.results.store`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import ConfigError

#: the first bytes of a data file
MAGIC = b"mifd-data-1 "
#: the structure's member in the zip
TREE = "tree.json"
#: uncompressed bytes a data file may declare (all members together) unless a caller says less
MAX_UNPACKED = 8 * 2 ** 30
#: nesting depth of a tree
MAX_DEPTH = 200

#: torch dtypes numpy lacks: stored as the numpy array of their bits
_BITS = {torch.bfloat16: np.int16, **{getattr(torch, n): np.uint8 for n in
         ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz")
         if hasattr(torch, n)}}
_TORCH_DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128,
    torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool,
    *[getattr(torch, n) for n in ("uint16", "uint32", "uint64") if hasattr(torch, n)], *_BITS)}
_NAME = re.compile(r"^(0|[1-9][0-9]{0,8})$")


class CorruptFileError(IOError):
    """A data file failed its checksum or could not be decoded (one line)."""


class LegacyFormatError(CorruptFileError, ConfigError):
    """A file in the former pickle format: not read (it could run code); convert it once with
    ``mifd convert-results``. A :class:`~mifd.ConfigError` too, so the command line and the
    notebooks show it as one line."""


def _legacy_error(path: Any) -> LegacyFormatError:
    return LegacyFormatError(f"{path}: written in the former pickle format, which is not read "
                             f"(it could run code); convert it once with "
                             f"`mifd convert-results {path}`")


# --- writing ---------------------------------------------------------------------------------

def encode(obj: Any, compress: bool = False) -> bytes:
    """The zip (``tree.json`` and the arrays) of ``obj``, its members deflated if ``compress``
    (finished results: about 19 % smaller; checkpoints, written often, are stored as they are);
    raises :class:`TypeError` for what is not data."""
    arrays: list[np.ndarray] = []
    seen: dict[int, str] = {}
    keep: list[Any] = []  # keeps the objects whose id() names them alive

    def member(a: Any, arr: np.ndarray) -> str:
        if id(a) in seen:
            return seen[id(a)]
        if arr.dtype.hasobject:
            raise TypeError("not data: an array of Python objects")
        keep.append(a)
        arrays.append(arr)
        seen[id(a)] = str(len(arrays) - 1)
        return seen[id(a)]

    def enc(o: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise TypeError(f"not data: nested deeper than {MAX_DEPTH}")
        t = type(o)
        if o is None or t is bool or t is int or t is str:
            return o
        if t is float:
            if math.isfinite(o):
                return o
            return {"$float": struct.pack(">d", o).hex()}
        if t is list:
            return [enc(v, depth + 1) for v in o]
        if t is tuple:
            return {"$tuple": [enc(v, depth + 1) for v in o]}
        if t is dict or t is OrderedDict:
            if t is dict and all(type(k) is str and not k.startswith("$") for k in o):
                return {k: enc(v, depth + 1) for k, v in o.items()}
            out: dict[str, Any] = {"$dict": [[enc(k, depth + 1), enc(v, depth + 1)]
                                             for k, v in o.items()]}
            if t is OrderedDict:
                out["ordered"] = True
            return out
        if t is np.ndarray:
            return {"$array": member(o, o)}
        if isinstance(o, np.generic) and t.__module__ == "numpy":
            return {"$scalar": member(o, np.asarray(o))}
        if t is torch.Tensor or t is torch.nn.Parameter:
            if o.dtype not in _TORCH_DTYPES.values() or o.is_sparse or o.is_quantized:
                raise TypeError(f"not data: a tensor of {o.dtype} ({o.layout})")
            d = o.detach().cpu().resolve_conj().resolve_neg().contiguous()
            if d.dtype in _BITS:
                d = d.view({np.int16: torch.int16, np.uint8: torch.uint8}[_BITS[d.dtype]])
            out = {"$tensor": member(o, d.numpy()), "dtype": str(o.dtype).removeprefix("torch.")}
            if o.requires_grad:
                out["requires_grad"] = True
            if t is torch.nn.Parameter:
                out["parameter"] = True
            return out
        raise TypeError(f"not data: {t.__module__}.{t.__qualname__}")

    tree = json.dumps(enc(obj), allow_nan=False, separators=(",", ":")).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        _put(z, TREE, tree)
        for i, arr in enumerate(arrays):
            npy = io.BytesIO()
            np.lib.format.write_array(npy, arr, allow_pickle=False)
            _put(z, f"{i}.npy", npy.getvalue())
    return buf.getvalue()


def _put(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = z.compression
    info.external_attr = 0o644 << 16
    info.create_system = 3
    z.writestr(info, data)


def blob_bytes(obj: Any, compress: bool = False) -> bytes:
    """The bytes of ``obj``'s data file: the format and checksum line, then :func:`encode`."""
    payload = encode(obj, compress)
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


# --- reading ---------------------------------------------------------------------------------

def is_legacy(raw: bytes) -> bool:
    """Whether ``raw`` is a file of the former format (a bare checksum line, then a pickle)."""
    head = raw[:65]
    return len(head) == 65 and head[64:] == b"\n" and re.fullmatch(rb"[0-9a-f]{64}",
                                                                      head[:64]) is not None


def load_blob(path: Path | str, raw: bytes | None = None,
              max_unpacked: int = MAX_UNPACKED) -> Any:
    """Read the data file ``path`` (or its bytes ``raw``): :class:`LegacyFormatError` for the
    former format, :class:`CorruptFileError` for anything else that fails."""
    raw = Path(path).read_bytes() if raw is None else raw
    if is_legacy(raw):
        raise _legacy_error(path)
    head, sep, payload = raw.partition(b"\n")
    if not sep or not head.startswith(MAGIC):
        raise CorruptFileError(f"{path}: not a mifd data file")
    if hashlib.sha256(payload).hexdigest().encode() != head[len(MAGIC):]:
        raise CorruptFileError(f"{path}: checksum mismatch (truncated or corrupt)")
    try:
        return decode(payload, max_unpacked)
    except CorruptFileError as e:
        raise CorruptFileError(f"{path}: {e}") from None
    except Exception as e:  # a valid checksum over data that does not decode
        raise CorruptFileError(f"{path}: cannot decode ({e.__class__.__name__}: {e})") from None


def decode(payload: bytes, max_unpacked: int = MAX_UNPACKED) -> Any:
    """The object of a zip written by :func:`encode` (never unpickles; sizes bounded first)."""
    z = _open_zip(payload, max_unpacked)
    try:
        tree = json.loads(z.read(TREE), parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise CorruptFileError(f"{TREE}: not JSON ({e.__class__.__name__})") from None
    return _Reader(z).value(tree)


def _open_zip(payload: bytes, max_unpacked: int) -> zipfile.ZipFile:
    """The zip of ``payload`` once its members are ``tree.json`` and ``<n>.npy``, each stored
    or deflated, at most ``max_unpacked`` bytes in all."""
    try:
        z = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile as e:
        raise CorruptFileError(f"not a zip ({e})") from None
    infos = z.infolist()
    names = [i.filename for i in infos]
    if any(i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) for i in infos):
        raise CorruptFileError("a member neither stored nor deflated")
    if len(set(names)) != len(names) or TREE not in names:
        raise CorruptFileError(f"members {names[:5]}: want {TREE} and distinct names")
    if any(n != TREE and not (n.endswith(".npy") and _NAME.match(n[:-4])) for n in names):
        raise CorruptFileError(f"members {names[:5]}: want {TREE} and <n>.npy")
    if sum(i.file_size for i in infos) > max_unpacked:
        raise CorruptFileError(f"{sum(i.file_size for i in infos)} bytes unpacked; "
                               f"allowed: at most {max_unpacked}")
    return z


class _Reader:
    """Decodes ``tree.json`` of the zip ``z``: each array read once (its header checked against
    its size first), each tensor built once."""

    def __init__(self, z: zipfile.ZipFile):
        self.z = z
        self.members = set(z.namelist()) - {TREE}
        self.loaded: dict[str, np.ndarray] = {}
        self.tensors: dict[str, torch.Tensor] = {}

    def array(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or f"{name}.npy" not in self.members:
            raise CorruptFileError(f"{TREE}: array {name!r} not in the file")
        if name not in self.loaded:
            info = self.z.getinfo(f"{name}.npy")
            with self.z.open(info) as f:  # the header's shape and dtype match the member's size
                version = np.lib.format.read_magic(f)
                if version not in ((1, 0), (2, 0)):
                    raise CorruptFileError(f"{name}.npy: format {version}")
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(f)
                if dtype.hasobject:
                    raise CorruptFileError(f"{name}.npy: an array of Python objects")
                if math.prod(shape) * dtype.itemsize != info.file_size - f.tell():
                    raise CorruptFileError(f"{name}.npy: shape {shape} of {dtype} does not "
                                           f"fit its {info.file_size} bytes")
            with self.z.open(info) as f:
                self.loaded[name] = np.lib.format.read_array(f, allow_pickle=False)
        return self.loaded[name]

    def tensor(self, o: dict, v: Any) -> torch.Tensor:
        dtype = _TORCH_DTYPES.get(o.get("dtype"))  # type: ignore[arg-type]
        if dtype is None:
            raise CorruptFileError(f"{TREE}: tensor dtype {o.get('dtype')!r}")
        if v in self.tensors:
            return self.tensors[v]
        a = self.array(v)
        want = _BITS.get(dtype) or torch.empty(0, dtype=dtype).numpy().dtype
        if a.dtype != np.dtype(want):
            raise CorruptFileError(f"{TREE}: tensor {v!r} stored as {a.dtype}; want {want}")
        t = torch.from_numpy(a)
        if dtype in _BITS:
            t = t.view(dtype)
        if o.get("parameter") is True:
            t = torch.nn.Parameter(t, requires_grad=o.get("requires_grad") is True)
        elif o.get("requires_grad") is True:
            t.requires_grad_(True)
        self.tensors[v] = t
        return t

    def value(self, o: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CorruptFileError(f"{TREE}: nested deeper than {MAX_DEPTH}")
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        if isinstance(o, list):
            return [self.value(v, depth + 1) for v in o]
        if not isinstance(o, dict):
            raise CorruptFileError(f"{TREE}: unexpected {type(o).__name__}")
        tags = [k for k in o if k.startswith("$")]
        if not tags:
            return {k: self.value(v, depth + 1) for k, v in o.items()}
        if len(tags) != 1:
            raise CorruptFileError(f"{TREE}: tags {tags}")
        return self.tagged(tags[0], o, depth)

    def tagged(self, tag: str, o: dict, depth: int) -> Any:
        v = o[tag]
        if tag == "$float" and isinstance(v, str) and re.fullmatch(r"[0-9a-f]{16}", v):
            return struct.unpack(">d", bytes.fromhex(v))[0]
        if tag == "$tuple" and isinstance(v, list):
            return tuple(self.value(x, depth + 1) for x in v)
        if tag == "$dict" and isinstance(v, list) and all(
                isinstance(kv, list) and len(kv) == 2 for kv in v):
            items = [(self.value(k, depth + 1), self.value(x, depth + 1)) for k, x in v]
            try:
                return OrderedDict(items) if o.get("ordered") is True else dict(items)
            except TypeError:
                raise CorruptFileError(f"{TREE}: an unhashable dict key") from None
        if tag == "$array":
            return self.array(v)
        if tag == "$scalar":
            a = self.array(v)
            if a.ndim != 0:
                raise CorruptFileError(f"{TREE}: scalar {v!r} of shape {a.shape}")
            return a[()]
        if tag == "$tensor":
            return self.tensor(o, v)
        raise CorruptFileError(f"{TREE}: unknown tag {tag!r}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- comparing -------------------------------------------------------------------------------

def same(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are the same data exactly: the same types (tuple is not list,
    a tensor is not an array), dict keys in the same order, arrays and tensors of the same
    dtype, shape and bits, floats of the same bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack(">d", a) == struct.pack(">d", b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return (list(a.keys()) == list(b.keys()) and all(type(k) is type(j) for k, j in
                                                         zip(a.keys(), b.keys()))
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, (np.ndarray, np.generic)):
        a, b = np.asarray(a), np.asarray(b)
        return (a.dtype == b.dtype and a.shape == b.shape
                and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes())
    if isinstance(a, torch.Tensor):
        return (a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
                and _tensor_bytes(a) == _tensor_bytes(b))
    return a == b


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().cpu().resolve_conj().resolve_neg().contiguous()
    return t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def content_digest(obj: Any) -> str:
    """A SHA-256 of ``obj``'s data as :func:`same` sees it (types, key order, dtypes, shapes,
    bits): equal digests for the same data in either file format."""
    h = hashlib.sha256()

    def walk(o: Any) -> None:
        t = type(o)
        h.update(f"<{t.__module__}.{t.__qualname__}".encode())
        if isinstance(o, float):
            h.update(struct.pack(">d", o))
        elif isinstance(o, (list, tuple)):
            h.update(str(len(o)).encode())
            for v in o:
                walk(v)
        elif isinstance(o, dict):
            h.update(str(len(o)).encode())
            for k, v in o.items():
                walk(k)
                walk(v)
        elif isinstance(o, (np.ndarray, np.generic)):
            a = np.asarray(o)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        elif isinstance(o, torch.Tensor):
            h.update(f"{o.dtype}{tuple(o.shape)}{o.requires_grad}".encode())
            h.update(_tensor_bytes(o))
        else:
            h.update(repr(o).encode())
        h.update(b">")

    walk(obj)
    return h.hexdigest()
