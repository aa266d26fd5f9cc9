"""The layers: the protocol package imports no Home Assistant, and imports run one way.

Read from the source (ast), so the test sees what a reader sees: an import inside
`if TYPE_CHECKING:` is for type checkers only and does not count as a module-level import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import custom_components.tunnelbroker as integration

PACKAGE = Path(integration.__file__).parent
PROTOCOL = PACKAGE / "protocol"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


def _imports(path: Path, *, type_checking: bool = False) -> set[str]:
    """Return what a module imports at module level, absolute (`.x` made package-relative)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = _module_name(path)
    # The package a relative import starts from: the module's own, or itself for __init__.
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if type_checking:
                    visit(node.body)
                continue
            if isinstance(node, ast.If | ast.Try):  # still module level
                visit([*node.body, *node.orelse])
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    found.add(node.module or "")
                    continue
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*base, *([node.module] if node.module else [])])
                found.add(f"{integration.__name__}.{target}".rstrip("."))

    visit(tree.body)
    return found


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_protocol_imports_no_home_assistant() -> None:
    assert _modules(PROTOCOL), "no protocol module found"
    problems = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(PROTOCOL)
        for name in _imports(path)
        if name.split(".")[0] == "homeassistant"
        or (
            name.startswith(f"{integration.__name__}.")
            and not name.startswith(f"{integration.__name__}.protocol")
        )
    ]
    assert not problems, "\n".join(problems)


def test_module_imports_run_one_way() -> None:
    """No circle among the integration's modules, not even through type-only imports."""
    graph = {
        f"{integration.__name__}.{_module_name(path)}".rstrip("."): {
            name
            for name in _imports(path, type_checking=True)
            if name.startswith(f"{integration.__name__}.")
        }
        for path in _modules(PACKAGE)
    }
    circles: list[list[str]] = []

    def walk(node: str, trail: list[str]) -> None:
        for target in sorted(graph.get(node, ())):
            if target in trail:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                walk(target, [*trail, target])
        done.add(node)

    done: set[str] = set()
    for module in sorted(graph):
        if module not in done:
            walk(module, [module])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)
