"""Dependencies point inward: the core imports no adapter, plugin or framework, the HTTP
and gRPC adapters never import each other (what they share lives in core or in a neutral
adapter module), and the core's modules import each other without a circle."""

from __future__ import annotations

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"
FRAMEWORKS = {"fastapi", "starlette", "grpc", "uvicorn", "httptools", "uvloop", "boto3", "pydantic"}


def _typing_only(tree: ast.Module) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:``: imports that never run."""
    return {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
        for statement in node.body
        for inner in ast.walk(statement)
    }


def imports_of(path: pathlib.Path, runtime_only: bool = False) -> list[tuple[str, list[str]]]:
    """``(module, names)`` for each import, the module absolute (relative imports resolved
    against ``src``); function-level imports count, since they run too."""
    package = path.relative_to(SRC).parent.parts
    tree = ast.parse(path.read_text())
    skipped = _typing_only(tree) if runtime_only else set()
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = node.module.split(".") if node.module else []
                found.append((".".join(("src", *base, *module)), names))
            else:
                found.append((node.module or "", names))
    return found


def imported_modules(path: pathlib.Path) -> list[str]:
    """Absolute names of what a module imports (relative imports resolved against ``src``)."""
    return [module for module, _ in imports_of(path)]


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


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(("src", *(parts[:-1] if parts[-1] == "__init__" else parts)))


def core_import_graph() -> dict[str, set[str]]:
    """Which core module imports which at run time (``from .pkg import module`` points at the
    module, ``from .module import name`` at the module)."""
    modules = {module_name(path): path for path in modules_under("core")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for module, names in imports_of(path, runtime_only=True):
            for imported in names:
                if f"{module}.{imported}" in modules:
                    targets.add(f"{module}.{imported}")
                elif module in modules:
                    targets.add(module)
            if not names and module in modules:
                targets.add(module)
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as a path that ends where it starts, or ``[]`` when there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str]:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return []
        path.append(node)
        for target in sorted(graph[node]):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return []

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_the_core_modules_import_each_other_without_a_circle() -> None:
    """A circle forces deferred imports and an import order that works by accident
    (``volume.loading``, ``volume.vacuum`` and ``volume.volume`` once formed one). Imports
    under ``TYPE_CHECKING`` never run and are left out."""
    graph = core_import_graph()
    assert "src.core.volume.loading" in graph
    assert "src.core.volume_info" in graph["src.core.volume.volume"]
    assert find_cycle(graph) == []


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
