"""The wheel holds every module: built, installed into a fresh venv, and started from there."""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.go_cluster import free_port_pair, http
from tests.support.our_server import OurServer

ROOT = Path(__file__).resolve().parents[2]


def _build_wheel(tmp_path: Path) -> Path:
    """Build from a copy of the tree, so the checkout gets no ``build/`` of its own."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + ["--disable-pip-version-check", "-w", str(out), str(tree)],
        check=True,
        timeout=300,
    )
    (wheel,) = out.glob("seaweed_volume-*.whl")
    return wheel


def _source_packages() -> set[str]:
    found = set()
    for init in (ROOT / "src").rglob("__init__.py"):
        if "__pycache__" in init.parts:
            continue
        relative = init.parent.relative_to(ROOT / "src").parts
        found.add(".".join(("seaweed_volume", *relative)))
    return found


def test_wheel_installs_and_serves(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    packaged = {
        name.removesuffix("/__init__.py").replace("/", ".")
        for name in names
        if name.endswith("/__init__.py")
    }
    assert packaged == _source_packages()

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv_site,) = venv.glob("lib/python*/site-packages")
    # The dependencies come from this venv's site-packages, appended after the new venv's
    # own; a path named in a .pth file is not scanned for .pth files, so this venv's
    # editable install of seaweed_volume stays invisible there.
    (venv_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps"]
        + ["--no-index", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=300,
    )
    where = subprocess.run(
        [python, "-c", "import seaweed_volume; print(seaweed_volume.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert where.startswith(str(venv_site)), where

    data = tmp_path / "data"
    data.mkdir()
    server = OurServer(
        str(data),
        master_port=free_port_pair(),  # nobody listens: the server serves without a master
        log_path=str(tmp_path / "server.log"),
        binary=str(venv / "bin" / "seaweed-volume"),
    )
    server.start()  # returns once GET /status answers 200
    try:
        status, _, body = http("GET", f"{server.url}/status")
        assert status == 200 and json.loads(body)["Version"]
    finally:
        assert server.stop() == 0
