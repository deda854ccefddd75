"""Project set-up: Binder environment = pyproject = lock file; config keys the design requires."""

import re
from pathlib import Path

import pytest
import tomllib

from conftest import ROOT


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pins():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            k, v = line.split("==")
            pins[k.lower().replace("_", "-")] = v.strip()
    return pins


def _env_pip():
    text = (ROOT / "environment.yml").read_text()
    return {(_name(l.strip()[2:])): l.split("==")[1].strip()
            for l in text.splitlines() if re.match(r"\s+- [A-Za-z].*==", l)}


def test_environment_yml_lists_the_same_dependencies_as_pyproject_and_the_lock():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d) for d in proj["dependencies"]} | {_name(d) for d in proj["optional-dependencies"]["dev"]}
    env = _env_pip()
    assert set(env) == deps
    pins = _pins()
    for name, version in env.items():
        assert pins[name] == version, name
    import torch
    assert pins["torch"] == torch.__version__.split("+")[0]  # the lock pins what runs here
    text = (ROOT / "environment.yml").read_text()
    assert "python=3.11" in text and "jupyterlab=4" in text and pins["ipywidgets"].startswith("8.")


def test_jupyter_book_1_is_pinned():
    assert _pins()["jupyter-book"].startswith("1.")
    assert "jupyter-book<2" in (ROOT / "pyproject.toml").read_text()


def test_book_config():
    cfg = (ROOT / "_config.yml").read_text()
    assert re.search(r"execute_notebooks:\s*cache", cfg)
    assert int(re.search(r"timeout:\s*(\d+)", cfg).group(1)) >= 1800
    assert "only_build_toc_files: true" in cfg
    assert "binderhub_url" in cfg and "colab_url" in cfg and re.search(r"url:\s*https://github.com/", cfg)
    assert '".*": python3' in cfg


def test_postbuild_installs_the_package():
    pb = (ROOT / "postBuild").read_text()
    assert "pip install" in pb and " -e ." in pb


@pytest.mark.slow
def test_postbuild_in_a_fresh_virtual_environment(tmp_path):
    """Binder runs postBuild after installing environment.yml. Here: a fresh venv that sees the
    pinned dependencies (a .pth to this environment's site-packages, as conda would provide
    them) but not the package; postBuild must install ``mifd`` from the checkout, and then a
    chapter must execute there."""
    import os

    import subprocess
    import sys
    import sysconfig


    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "binder_deps.pth").write_text(deps + "\n")
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}", MIFD_PROGRESS="0",
               MIFD_STORE=str(tmp_path / "store"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    before = subprocess.run([str(py), "-c", "import mifd"], env=env, capture_output=True,
                            cwd=tmp_path)
    assert before.returncode != 0, "the fresh venv already sees mifd"
    p = subprocess.run(["bash", str(ROOT / "postBuild")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    where = subprocess.run([str(py), "-c", "import mifd; print(mifd.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).resolve().is_relative_to(ROOT / "mifd")
    out = tmp_path / "models.ipynb"
    p = subprocess.run([str(py), "-m", "papermill", str(ROOT / "book" / "models.ipynb"), str(out),
                        "-p", "profile", "smoke", "--cwd", str(ROOT / "book"), "-k", "python3",
                        "--no-progress-bar"], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert '"image/png"' in out.read_text()
