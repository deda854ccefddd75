"""Typed, validated experiment configurations and the profile mechanism.

Every experiment declares one frozen dataclass whose fields carry their allowed values in
``field(metadata=...)``: ``choices`` (a tuple), ``low``/``high`` (inclusive bounds) or
``positive``. A *profile* (``smoke`` | ``book`` | ``paper``) is a named set of overrides of the
dataclass defaults; ``--set key=value`` pairs are applied on top and validated the same way.

Errors are :class:`~mifd.ConfigError` with a one-line message naming the parameter, the value given
and what is allowed; the command line turns them into exit code 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any, Mapping

#: run sizes: ``smoke`` (seconds, tests), ``book`` (CPU, committed), ``gpu`` (one GPU call; only
#: experiments that define it), ``paper`` (the published settings)
PROFILES = ("smoke", "book", "gpu", "paper")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A parameter was unknown, ill-typed or out of range (one-line message).

    In a notebook (IPython, papermill) it is shown as that one line, not as a traceback through
    the library.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"ConfigError: {self}"]


def param(default: Any, *, doc: str = "", choices: tuple | None = None,
          low: float | None = None, high: float | None = None, added: bool = False,
          legacy: Any = dataclasses.MISSING) -> Any:
    """A config field with its allowed values (used by ``validate``).

    ``added``: a field added after results were stored; it enters the store key only when it
    differs from ``legacy``, the value every result stored before the field existed implicitly
    had (by default the field's default), so existing keys stay valid and a key follows from the
    full config alone: changing such a field's default later changes no key
    (:func:`config_hash`)."""
    meta = {"doc": doc, "choices": choices, "low": low, "high": high, "added": added,
            "legacy": default if legacy is dataclasses.MISSING else legacy}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults so configs stay hashable")
    return dataclasses.field(default=default, metadata=meta)


def _allowed(f: dataclasses.Field, typ: Any) -> str:
    m = f.metadata
    if m.get("choices") is not None:
        return "one of " + ", ".join(repr(c) for c in m["choices"])
    kind = _type_name(typ)
    lo, hi = m.get("low"), m.get("high")
    if lo is not None and hi is not None:
        return f"{kind} in [{lo}, {hi}]"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def _type_name(typ: Any) -> str:
    origin = typing.get_origin(typ)
    if origin is tuple:
        args = typing.get_args(typ)
        many = {int: "integers", float: "finite numbers", bool: "true/false values",
                str: "strings"}.get(args[0], str(args[0]))
        return f"a comma-separated list of {many} (empty: none)"
    return {int: "an integer", float: "a finite number", bool: "true or false",
            str: "a string"}.get(
        typ, str(typ))


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(name: str, value: Any, typ: Any, allowed: str) -> Any:
    """Convert ``value`` (possibly a string from the command line) to ``typ``."""
    def fail() -> ConfigError:
        return ConfigError(f"parameter '{name}': got {value!r}; allowed: {allowed}")

    origin = typing.get_origin(typ)
    if origin is tuple:
        inner = typing.get_args(typ)[0]
        items = ([v for v in value.split(",") if v.strip()] if isinstance(value, str)
                 else value)
        if not isinstance(items, (list, tuple)):
            raise fail()
        try:
            return tuple(_coerce(name, v.strip() if isinstance(v, str) else v, inner, allowed)
                         for v in items)
        except ConfigError:
            raise fail() from None
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise fail()
    if typ is int:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value)
            except ValueError:
                raise fail() from None
            if f.is_integer():
                return int(f)
        raise fail()
    if typ is float:
        if isinstance(value, bool):
            raise fail()
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail() from None
        raise fail()
    if typ is str:
        if isinstance(value, str):
            return value
        raise fail()
    return value


#: the largest magnitude a float parameter may have: float32's (the networks compute in it;
#: a larger value becomes inf there)
FLOAT_MAX = 3.4028234663852886e38
#: the largest magnitude of an integer parameter (seeds are offset by up to ~10^7 per stream
#: and must stay within a torch generator's 64-bit range)
INT_MAX = 2 ** 62


def _check_range(name: str, value: Any, f: dataclasses.Field, allowed: str) -> None:
    m = f.metadata
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and not value and m.get("choices") is not None:
        # a list of choices (conditions, estimators, critics) names at least one
        raise ConfigError(f"parameter '{name}': got an empty list; allowed: {allowed}, at least "
                          "one")
    for v in items:
        bad = (m.get("choices") is not None and v not in m["choices"]) or \
              (m.get("low") is not None and v < m["low"]) or \
              (m.get("high") is not None and v > m["high"])
        if isinstance(v, float) and not (abs(v) <= FLOAT_MAX):  # inf, nan, > float32's range
            raise ConfigError(f"parameter '{name}': got {value!r}; allowed: {allowed}, "
                              f"in float32 range (|x| <= {FLOAT_MAX:.4g})")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT_MAX:
            raise ConfigError(f"parameter '{name}': got {value!r}; allowed: {allowed}, "
                              f"|x| <= 2**62")
        if bad:
            raise ConfigError(f"parameter '{name}': got {value!r}; allowed: {allowed}")


def validate(cfg: Any) -> Any:
    """Coerce and range-check every field of a config dataclass; return a new instance."""
    hints = _hints(type(cfg))
    values = {}
    for f in dataclasses.fields(cfg):
        allowed = _allowed(f, hints[f.name])
        v = _coerce(f.name, getattr(cfg, f.name), hints[f.name], allowed)
        _check_range(f.name, v, f, allowed)
        values[f.name] = v
    new = dataclasses.replace(cfg, **values)
    check = getattr(new, "check", None)
    if check is not None:
        check()
    return new


def apply_overrides(cfg: Any, overrides: Mapping[str, Any]) -> Any:
    """Return ``cfg`` with ``overrides`` (name → value or string) applied and validated."""
    names = {f.name: f for f in dataclasses.fields(cfg)}
    hints = _hints(type(cfg))
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            allowed = ", ".join(sorted(names))
            raise ConfigError(f"parameter '{key}': unknown (value {value!r}); allowed: {allowed}")
        allowed = _allowed(names[key], hints[key])
        changes[key] = _coerce(key, value, hints[key], allowed)
    return validate(dataclasses.replace(cfg, **changes))


def parse_set(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse ``key=value`` strings from the command line."""
    out = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(f"parameter '--set': got {p!r}; allowed: key=value")
        k, v = p.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ConfigError(f"parameter 'profile': got {profile!r}; allowed: one of "
                          + ", ".join(repr(p) for p in PROFILES))
    return profile


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ConfigError(f"parameter 'device': got {device!r}; allowed: one of "
                          + ", ".join(repr(d) for d in DEVICES))
    return device


def to_dict(cfg: Any) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def stored_config(cls: type, stored: Mapping[str, Any]) -> Any:
    """The config a stored ``config.json`` describes: a field added after it was stored
    (``param(..., added=True)``) takes its *legacy* value, the one the stored run had, not
    today's default (which may have changed since: wm's RMSprop ε)."""
    legacy = {f.name: f.metadata["legacy"] for f in dataclasses.fields(cls)
              if f.metadata.get("added") and f.name not in stored}
    return apply_overrides(cls(), {**legacy, **stored})


def config_hash(experiment: str, cfg: Any, version: str) -> str:
    """Key of a run in the results store: hash of experiment, full config and package version.

    Fields declared with ``param(..., added=True)`` are left out while they hold their legacy
    value (the one results stored before the field existed had), so adding such a field, or
    changing its default afterwards, keeps every existing key."""
    config = to_dict(cfg)
    for f in dataclasses.fields(cfg):
        if f.metadata.get("added") and \
                getattr(cfg, f.name) == f.metadata.get("legacy", f.default):
            del config[f.name]
    blob = json.dumps({"experiment": experiment, "config": config, "version": version},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def describe(cfg: Any, base: Any | None = None) -> list[tuple[str, Any, Any, str]]:
    """Rows (name, value, value in ``base``, doc) for every field, to list reductions on a page."""
    rows = []
    for f in dataclasses.fields(cfg):
        rows.append((f.name, getattr(cfg, f.name),
                     getattr(base, f.name) if base is not None else None, f.metadata.get("doc", "")))
    return rows
