"""Generate the Python gRPC code in src/adapters/grpc/pb from proto/ (deterministically).

Usage: python scripts/gen_proto.py [OUTPUT_DIR]. The generated modules import each other
package-relatively, so the package works wherever seaweed_volume is installed.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(ROOT, "proto")
DEFAULT_OUT = os.path.join(ROOT, "src", "adapters", "grpc", "pb")
PROTOS = ("remote.proto", "volume_server.proto", "master.proto")
_IMPORT = re.compile(r"^import (\w+_pb2(?:_grpc)?) as (\w+)$", re.MULTILINE)


def generate(out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as raw:
        include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"-I{PROTO_DIR}",
                f"-I{include}",
                f"--python_out={raw}",
                f"--pyi_out={raw}",
                f"--grpc_python_out={raw}",
                *(os.path.join(PROTO_DIR, name) for name in PROTOS),
            ]
        )
        if status != 0:
            raise SystemExit(f"protoc failed with status {status}")
        written = []
        for name in sorted(os.listdir(raw)):
            with open(os.path.join(raw, name), encoding="utf-8") as src:
                text = _IMPORT.sub(r"from . import \1 as \2", src.read())
            with open(os.path.join(out_dir, name), "w", encoding="utf-8") as out:
                out.write(text)
            written.append(name)
    init = os.path.join(out_dir, "__init__.py")
    with open(init, "w", encoding="utf-8") as out:
        out.write('"""Generated from proto/ by scripts/gen_proto.py; do not edit."""\n')
    return [*written, "__init__.py"]


if __name__ == "__main__":
    for name in generate(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT):
        print(name)
