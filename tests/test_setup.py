"""Project set-up: Binder environment = pyproject = lock file; config keys the design requires."""

import re
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
    assert pins["torch"] == "2.13.0"
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
