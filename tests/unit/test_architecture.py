"""The layering rules of docs/architecture.md, checked by walking every import of the package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "callout"
# A layer may import only layers of a lower rank (never one of the same rank).
RANKS = {"domain": 0, "storage": 1, "delivery": 1, "engine": 2, "services": 3, "api": 4, "console": 5}
LAYERS = sorted(RANKS, key=RANKS.__getitem__)
# Which third-party packages each layer may import: only storage talks SQL, only api the web framework.
OWNERS = {
    "sqlalchemy": {"storage"},
    "alembic": {"storage"},
    "fastapi": {"api"},
    "starlette": {"api", "console"},  # the web console mounts its own Starlette app (docs/console.md)
    "jinja2": {"console"},
    "aiohttp": {"delivery"},
    "opentelemetry": {"tracing"},  # imported only when tracing is on (docs/tracing.md)
    "django": {"integrations"},  # the Django adapter only, imported lazily (docs/host-middleware.md)
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer_files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


class TestLayering:
    @pytest.mark.parametrize("layer", LAYERS)
    def test_layer_imports_only_layers_below_it(self, layer: str) -> None:
        """A layer never imports a layer above it (api → services → engine → storage/delivery → domain)."""
        above = {f"callout.{name}" for name, rank in RANKS.items() if rank >= RANKS[layer] and name != layer}
        offenders = {
            f"{path.relative_to(PACKAGE)}: {name}"
            for path in _layer_files(layer)
            for name in _imports(path)
            if any(name == module or name.startswith(module + ".") for module in above)
        }
        assert not offenders

    @pytest.mark.parametrize("library", sorted(OWNERS))
    def test_third_party_library_is_imported_only_by_its_layer(self, library: str) -> None:
        """Each third-party library (SQLAlchemy, FastAPI, aiohttp, OpenTelemetry, …) stays in its own layer."""
        offenders = {
            str(path.relative_to(PACKAGE))
            for path in PACKAGE.rglob("*.py")
            if path.relative_to(PACKAGE).parts[0] not in OWNERS[library]
            and any(name == library or name.startswith(library + ".") for name in _imports(path))
        }
        assert not offenders

    def test_domain_performs_no_io(self) -> None:
        """The domain layer imports no database, network or web library."""
        forbidden = {"sqlalchemy", "fastapi", "starlette", "aiohttp", "httpx", "psycopg", "aiosqlite", "uvicorn"}
        imported = {name.split(".")[0] for path in _layer_files("domain") for name in _imports(path)}
        assert not imported & forbidden
