"""Dependencies point inward: the core imports no adapter, plugin or framework, and the HTTP
and gRPC adapters never import each other (what they share lives in core or in a neutral
adapter module)."""

from __future__ import annotations

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
FRAMEWORKS = {"fastapi", "starlette", "grpc", "uvicorn", "httptools", "uvloop", "boto3", "pydantic"}


def imported_modules(path: pathlib.Path) -> list[str]:
    """Absolute names of what a module imports (relative imports resolved against ``src``)."""
    package = path.relative_to(SRC).parent.parts
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = node.module.split(".") if node.module else []
                found.append(".".join(("src", *base, *module)))
            else:
                found.append(node.module or "")
    return found


def modules_under(folder: str) -> list[pathlib.Path]:
    return [p for p in (SRC / folder).rglob("*.py") if "pb" not in p.parts]


def test_the_core_imports_no_adapter_plugin_or_framework() -> None:
    for path in modules_under("core"):
        for name in imported_modules(path):
            assert not name.startswith(("src.adapters", "src.plugins")), (path, name)
            assert name.split(".")[0] not in FRAMEWORKS, (path, name)


def test_http_and_grpc_never_import_each_other() -> None:
    pairs = (("adapters/grpc", "src.adapters.http"), ("adapters/http", "src.adapters.grpc"))
    for folder, other in pairs:
        for path in modules_under(folder):
            for name in imported_modules(path):
                assert not name.startswith(other), (path, name)
