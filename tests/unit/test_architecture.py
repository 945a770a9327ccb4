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


def modules_outside_core() -> list[pathlib.Path]:
    return [
        p
        for p in SRC.rglob("*.py")
        if "pb" not in p.parts and p.relative_to(SRC).parts[0] != "core"
    ]


def test_only_the_composition_root_knows_the_store_class() -> None:
    """Adapters (and the entry points) are typed against ``core.ports.VolumeRepository``."""
    for path in modules_outside_core():
        if path.relative_to(SRC) == pathlib.Path("container.py"):
            continue
        for name in imported_modules(path):
            assert name != "src.core.store", (path, name)


def test_the_entry_points_build_nothing_by_hand() -> None:
    """``server.py`` and ``workers.py`` take their objects from the composition root: they
    never construct the contexts, clients or servicers themselves."""
    wired = {"HttpContext", "MasterClient", "VolumeServerServicer", "GrpcRemoteShards", "JwtGuard"}
    wired |= {"create_app", "Store", "PillowImages", "InflightLimit"}
    for name in ("server.py", "workers.py"):
        tree = ast.parse((SRC / name).read_text())
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert not imported & wired, (name, imported & wired)
