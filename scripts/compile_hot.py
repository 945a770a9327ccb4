"""Compile the hot path (the HTTP pipeline and the core it calls) with mypyc, in place.

Optional: the package is pure Python and needs no compiler. Built, each module below gets an
extension module beside its ``.py`` (one shared library, ``seaweed_volume/hot__mypyc*.so``, holds
the code), which Python imports in preference to the source; ``--clean`` removes them and the
pure-Python modules serve again. The same tests run against both (``.ci/run``).

Measured on this 2-core machine against Go 4.48 in the same runs (README, "Benchmarks"):
2026-12-07, about 30% less server CPU per upload and 5-20% per read than the pure modules.

Run: ``.venv/bin/python scripts/compile_hot.py [--clean]`` (needs a C compiler and the Python
headers; mypy, which brings mypyc, is in the ``test`` extra).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src"

HOT_MODULES = (
    "adapters/http/protocol",
    "adapters/http/front_door",
    "adapters/http/read",
    "adapters/http/write",
    "adapters/http/wire",
    "adapters/http/kept_heads",
    "adapters/http/responses",
    "adapters/http/auth",
    "core/store",
    "core/volume/volume",
    "core/needle/record",
    "core/needle/parse_upload",
    "core/needle_map/memory",
    "core/idx",
    "core/types",
    "core/crc",
    "core/stats",
    "core/file_id",
    "core/goparse",
    "core/backend",
    # What those call on every request: interpreted, each call costs a frame.
    "adapters/http/throttle",
    "adapters/http/replicate",
    "adapters/http/context",
    "core/needle/media_type",
    "core/needle_map/metrics",
    "core/ttl",
    "core/white_list",
    "core/disk_location",
)

_SETUP = """
from setuptools import setup
from mypyc.build import mypycify

setup(
    name="seaweed-volume-hot",
    ext_modules=mypycify({paths!r}, opt_level="3", group_name="seaweed_volume.hot"),
)
"""


def built_files() -> list[Path]:
    return sorted(SOURCE.rglob("*.so"))


def clean() -> None:
    for path in built_files():
        path.unlink()
        print(f"removed {path.relative_to(SOURCE.parent)}")


def compile_hot() -> None:
    """mypyc names a module by its path, so it compiles from a folder where ``src`` is seen as
    ``seaweed_volume`` (a symlink); ``build_ext --inplace`` then writes through it into ``src``."""
    clean()
    with tempfile.TemporaryDirectory(prefix="seaweed-hot-") as work:
        os.symlink(SOURCE, os.path.join(work, "seaweed_volume"))
        paths = [f"--config-file={SOURCE.parent / 'pyproject.toml'}"]  # (plyvel has no types)
        paths += [f"seaweed_volume/{module}.py" for module in HOT_MODULES]
        with open(os.path.join(work, "setup.py"), "w") as out:
            out.write(_SETUP.format(paths=paths))
        subprocess.run(
            [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=work, check=True
        )
    print(f"compiled {len(HOT_MODULES)} modules: {len(built_files())} extension files in src/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    args = parser.parse_args()
    if args.clean:
        clean()
    else:
        compile_hot()


if __name__ == "__main__":
    main()
