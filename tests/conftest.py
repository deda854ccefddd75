import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def store_env(tmp_path, monkeypatch):
    """An empty results store for this test (also for subprocesses)."""
    store = tmp_path / "store"
    monkeypatch.setenv("MIFD_STORE", str(store))
    monkeypatch.setenv("MIFD_PROGRESS", "0")
    return store


def mifd_cmd(*args):
    return [str(BIN / "mifd"), *args]


def env_with(**kw):
    e = dict(os.environ)
    e.update({k: str(v) for k, v in kw.items()})
    return e
