"""The package's import map: every module imports, no module-level import cycle, and the arrows the design
allows (layers and models know nothing of parity or the CLI, the hub knows no model)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import mlx_audio_lab

PACKAGE = Path(mlx_audio_lab.__file__).parent
ROOT = PACKAGE.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def imports(name: str, top_level_only: bool) -> set[str]:
    """Package modules that `name` imports: at module level only (what runs at import), or anywhere."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt] | list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _type_checking(node):
                continue  # type-only imports never run
            if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from X import m` of a submodule m is an arrow to X.m alone; of any other name, to X
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
            visit(list(ast.iter_child_nodes(node)))

    visit(ast.parse(path.read_text()).body)
    return {m for m in found if m in MODULES and m != name}


def graph(top_level_only: bool = True) -> dict[str, set[str]]:
    return {m: imports(m, top_level_only) for m in MODULES}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph (a list of modules, first = last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := dfs(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state and (found := dfs(m)):
            return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"mlx_audio_lab.__main__"}))  # __main__ runs the CLI
def test_every_module_imports(name):
    importlib.import_module(name)


def test_no_import_cycle():
    """No loop, neither among module-level imports (what runs when a module is imported) nor counting the
    imports deferred into functions (a loop there is a loop in the design); type-only imports do not count."""
    assert cycle(graph(top_level_only=True)) is None
    assert cycle(graph(top_level_only=False)) is None


def test_layers_and_models_know_nothing_of_parity_or_the_cli():
    """Anywhere in the file, imports inside functions included; only the reference side (`reference.py`) may."""
    bad = []
    for name, path in MODULES.items():
        if name.startswith(("mlx_audio_lab.layers", "mlx_audio_lab.models")) and path.name != "reference.py":
            bad += [(name, m) for m in imports(name, top_level_only=False)
                    if m.startswith(("mlx_audio_lab.parity", "mlx_audio_lab.cli"))]
    assert bad == []


def test_hub_and_taps_import_no_model():
    for name in ("mlx_audio_lab.hub", "mlx_audio_lab.taps"):
        assert not [m for m in imports(name, top_level_only=False) if m.startswith("mlx_audio_lab.models")], name
    assert imports("mlx_audio_lab.taps", top_level_only=False) == set()
