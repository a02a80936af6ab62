"""The layering rules of docs/architecture.md, enforced on the source (no import needed).

* ``forecast`` (data, models) imports neither ``simulations`` nor ``pipecast``;
  ``simulations`` (what runs on a fit) does not import ``pipecast`` (CLI, report).
* The engine and the fitted-posterior module are PyMC-free, transitively: a Dask worker or a
  scenario run never loads the modelling stack.
* No import cycle between modules.
* No module over :data:`MAX_LINES` lines unless its docstring says why (``Long because``).

Every import counts, including those inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("forecast", "simulations", "pipecast")
MAX_LINES = 600
MODELLING_STACK = {"pymc", "pytensor", "arviz"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an imported name refers to (``a.b.c`` may be a name in ``a.b``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> tuple[set[str], set[str]]:
    """(project modules, third-party top-level packages) that ``module`` imports."""
    tree = ast.parse(MODULES[module].read_text())
    project, external = set(), set()
    is_pkg = MODULES[module].name == "__init__.py"
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")
                parent = parent if is_pkg else parent[:-1]
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for n in names:
            target = _resolve(n)
            if target is not None:
                if target != module:
                    project.add(target)
            elif n and n.split(".")[0] not in PACKAGES:
                external.add(n.split(".")[0])
    return project, external


GRAPH = {m: _imports(m) for m in MODULES}


def _closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(GRAPH[m][0])
    return seen


@pytest.mark.parametrize(("lower", "upper"), [("forecast", "simulations"),
                                              ("forecast", "pipecast"),
                                              ("simulations", "pipecast")])
def test_imports_run_one_way(lower, upper):
    bad = sorted(f"{m} → {t}" for m, (deps, _) in GRAPH.items()
                 if m.split(".")[0] == lower for t in deps if t.split(".")[0] == upper)
    assert not bad, f"{lower} must not import {upper}: " + "; ".join(bad)


@pytest.mark.parametrize("root", sorted(m for m in MODULES
                                        if m.startswith("simulations.engine")
                                        or m == "forecast.posterior"))
def test_engine_and_posterior_do_not_load_the_modelling_stack(root):
    used = {(m, x) for m in _closure(root) for x in GRAPH[m][1] & MODELLING_STACK}
    assert not used, f"{root} reaches {sorted(used)}"


def test_no_import_cycles():
    # Tarjan's strongly connected components over the module graph (package __init__
    # re-exports excluded: importing ``forecast`` for ``load_dataset`` is not a cycle)
    graph = {m: {t for t in deps if not MODULES[t].name == "__init__.py"}
             for m, (deps, _) in GRAPH.items()}
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_modules_stay_small_or_say_why():
    long = []
    for m, path in MODULES.items():
        text = path.read_text()
        n = text.count("\n")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if n > MAX_LINES and "Long because" not in doc:
            long.append(f"{m} ({n} lines)")
    assert not long, "split these or say why at their top ('Long because …'): " + ", ".join(long)


def test_the_rules_see_a_violation():
    # the checker itself: a lazy import inside a function counts
    src = "def f():\n    from simulations.engine import simulate\n"
    tree = ast.parse(src)
    found = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert _resolve(found[0] + ".simulate") == "simulations.engine.simulate"
    assert "pymc" in GRAPH["forecast.models.flow"][1]
