"""The architecture as the imports show it: each package imports only the layers below it, and
the engine's modules import each other without cycles, lower layers never up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "sla_core": REPO / "libs/sla-core/src/sla_core",
    "sla_edge": REPO / "libs/sla-edge/src/sla_edge",
    "sla_engine": REPO / "services/sla-engine/src/sla_engine",
    "report_api": REPO / "services/report-api/src/report_api",
}
# what each package may import of this repository's packages and of the I/O libraries
FORBIDDEN = {
    "sla_core": {"sla_edge", "sla_engine", "report_api", "sla_devtools", "aiokafka", "asyncpg",
                 "sqlalchemy", "fastapi", "uvicorn", "starlette"},
    "sla_edge": {"sla_core", "sla_engine", "report_api", "sla_devtools", "aiokafka", "asyncpg",
                 "sqlalchemy", "fastapi"},
    "sla_engine": {"report_api", "sla_devtools", "sqlalchemy", "fastapi"},
    "report_api": {"sla_engine", "sla_devtools"},
}  # fmt: skip
# the engine's modules by layer: a module imports only from its own layer or lower ones
ENGINE_LAYERS = [
    {"collector", "config", "metrics"},
    {"ports", "intake", "policy_reload", "check_policy"},
    {
        "adapters.kafka",
        "adapters.snapshots",
        "adapters.policy_registry",
        "outputs",
        "snapshotting",
        "partitions",
    },
    {"service"},
    {"bootstrap", "http"},
    {"__main__"},
]


def imports(path: Path) -> set[str]:
    """Every module name imported by the file, at any depth (lazy imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(package: str) -> dict[str, Path]:
    root = PACKAGES[package]
    return {
        ".".join(p.relative_to(root).with_suffix("").parts): p
        for p in root.rglob("*.py")
        if "migrations" not in p.parts and p.name != "__init__.py"
    }


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    for name, path in modules(package).items():
        tops = {i.split(".")[0] for i in imports(path)}
        assert not tops & FORBIDDEN[package], (
            f"{package}.{name} imports {tops & FORBIDDEN[package]}"
        )


def test_the_engine_modules_import_only_their_layer_or_lower() -> None:
    rank = {name: n for n, layer in enumerate(ENGINE_LAYERS) for name in layer}
    found = set(modules("sla_engine"))
    assert found == set(rank), "every engine module has a layer"
    for name in found:
        for imported in imports(modules("sla_engine")[name]):
            target = imported.removeprefix("sla_engine.")
            if imported.startswith("sla_engine.") and target in rank:
                assert rank[target] <= rank[name], f"{name} imports {target}, a higher layer"
                assert target != name


def test_the_engine_modules_have_no_import_cycle() -> None:
    graph = {
        name: {
            i.removeprefix("sla_engine.")
            for i in imports(path)
            if i.startswith("sla_engine.")
            and i.removeprefix("sla_engine.") in modules("sla_engine")
        }
        for name, path in modules("sla_engine").items()
    }
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"import cycle: {' -> '.join((*path, name))}"
        if name in done:
            return
        for target in graph[name]:
            visit(target, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_no_engine_module_is_over_300_lines() -> None:
    for name, path in modules("sla_engine").items():
        lines = len(path.read_text().splitlines())
        assert lines <= 300, f"sla_engine.{name} has {lines} lines"
