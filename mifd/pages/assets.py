"""Front-end files of the HTML book, served from the book itself rather than from a CDN.

The rendered pages need three scripts: MathJax 3 (equations), require.js and the Jupyter widgets
HTML manager (the static state of the widgets). By default Sphinx and myst-nb link them from
public CDNs, so a page opened offline, or behind a firewall, logs errors and shows raw TeX. We
download pinned versions once from the npm registry, check each tarball against its published
sha512 integrity, and unpack the files the pages use into ``book/_static/vendor`` (not committed),
which Sphinx copies to ``_build/html/_static/vendor``. ``_config.yml`` points Sphinx and myst-nb
at those copies.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class NpmAsset:
    """Files of one npm package version: ``files`` maps a path inside the package to a path
    under the vendor directory; a path ending in ``/`` copies that folder's files (filtered by
    ``suffixes``)."""
    name: str
    version: str
    integrity: str  # the registry's sha512, base64
    files: tuple[tuple[str, str], ...]
    suffixes: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.rsplit('/', 1)[-1]}-{self.version}.tgz"


ASSETS: tuple[NpmAsset, ...] = (
    NpmAsset("mathjax", "3.2.2",
             "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
             (("es5/tex-mml-chtml.js", "mathjax/tex-mml-chtml.js"),
              ("es5/output/chtml/fonts/woff-v2/", "mathjax/output/chtml/fonts/woff-v2/"),
              ("LICENSE", "mathjax/LICENSE"))),
    NpmAsset("requirejs", "2.3.7",
             "DouTG8T1WanGok6Qjg2SXuCMzszOo0eHeH9hDZ5Y4x8Je+9JB38HdTLT4/VA8OaUhBa0JPVHJ0pyBkM1z+pDsw==",
             (("require.js", "require.js"),)),
    NpmAsset("@jupyter-widgets/html-manager", "1.0.6",
             "+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
             (("dist/embed-amd.js", "html-manager/embed-amd.js"),
              ("dist/", "html-manager/"),
              ("LICENSE", "html-manager/LICENSE")),
             suffixes=(".woff", ".woff2", ".ttf", ".eot", ".svg")),
)

STAMP = "assets.json"


class AssetError(RuntimeError):
    """A pinned asset could not be downloaded, or its checksum did not match."""


def _check_integrity(data: bytes, asset: NpmAsset) -> None:
    got = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != asset.integrity:
        raise AssetError(f"{asset.url}: sha512 {got} does not match the pinned {asset.integrity}")


def _extract(data: bytes, asset: NpmAsset, dest: Path) -> list[str]:
    written = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers()
                   if m.isfile() and "/" in m.name}
        for src, dst in asset.files:
            if src.endswith("/"):
                pairs = [(k, dst + k[len(src):]) for k in members
                         if k.startswith(src) and "/" not in k[len(src):]
                         and (not asset.suffixes or k.endswith(asset.suffixes))]
            else:
                pairs = [(src, dst)]
            for s, d in pairs:
                if s not in members:
                    raise AssetError(f"{asset.name}@{asset.version} has no file {s}")
                out = dest / d
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_name(out.name + ".tmp")
                tmp.write_bytes(tar.extractfile(members[s]).read())
                tmp.replace(out)
                written.append(d)
    return written


def _stamp(dest: Path) -> dict:
    try:
        return json.loads((dest / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def ensure_assets(dest: Path, fetch=None) -> list[str]:
    """Make sure every pinned asset is unpacked under ``dest``; download what is missing.

    ``fetch(url) -> bytes`` defaults to an HTTP GET. Returns the names fetched in this call.
    Raises :class:`AssetError` when a download fails or its checksum does not match.
    """
    fetch = fetch or (lambda url: urllib.request.urlopen(url, timeout=120).read())
    dest = Path(dest)
    stamp = _stamp(dest)
    done = []
    for a in ASSETS:
        key = f"{a.name}@{a.version}"
        files = stamp.get(key)
        if files and all((dest / f).is_file() for f in files):
            continue
        try:
            data = fetch(a.url)
        except OSError as e:
            raise AssetError(f"cannot download {a.url}: {e}") from e
        _check_integrity(data, a)
        stamp[key] = _extract(data, a, dest)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / STAMP).write_text(json.dumps(stamp, indent=1, sort_keys=True))
        done.append(key)
    return done
