"""The package's layers, read from the source: who may import whom (every import, lazy ones too), no
cycle, and the spec layer loadable without torch (docs/architecture.md draws the picture)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scorebench"
LAYERS = ("spec", "core", "jobs", "report")
BESIDE = {"errors", "io", "cli", "__init__"}  # modules beside the layers
# layer -> the layers (and modules beside them) its modules may import
ALLOWED = {
    "spec": {"spec", "errors"},
    "core": {"core", "spec.registry", "errors", "io"},  # the declaration vocabulary (Range, Registry) only
    "jobs": {"jobs", "core", "spec", "errors", "io"},
    "report": {"report", "spec", "core.data", "core.conditioning", "errors", "io"},  # truths of a dataset, no jobs
    "errors": set(),
    "io": {"errors", "__init__"},
    "__init__": set(),
    "cli": {"spec", "jobs", "report", "errors", "io"},
}
# third-party packages a layer must not import: the Snakefile's parse imports spec only
FORBIDDEN = {"spec": {"torch", "numpy", "pandas", "scipy", "matplotlib", "seaborn", "torch_fidelity", "torchdiffeq"},
             "core": {"pandas", "seaborn", "matplotlib", "snakemake", "submitit"},
             "report": {"submitit", "torchdiffeq", "torch_fidelity"}}


def modules() -> dict[str, Path]:
    """Dotted name under scorebench (e.g. 'spec.grid') -> file, for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)] = path
    return out


def imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(modules of the package, top-level third-party packages) that `name` imports anywhere in its source."""
    package = [] if name == "__init__" else name.split(".")[:-1] if path.name != "__init__.py" else name.split(".")
    inner, outer = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            stem = base + (node.module.split(".") if node.module else [])
            if node.module:
                inner.add(".".join(stem) or "__init__")
            else:
                inner.update(".".join(stem + [alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            (inner.add(node.module.removeprefix("scorebench.")) if node.module.startswith("scorebench.")
             else outer.add(node.module.split(".")[0]))
        elif isinstance(node, ast.Import):
            outer.update(alias.name.split(".")[0] for alias in node.names)
    known = modules()
    return {m if m in known else m.rsplit(".", 1)[0] for m in inner} & set(known), outer


def layer(name: str) -> str:
    return name.split(".")[0]


def graph() -> dict[str, set[str]]:
    return {name: imports(name, path)[0] - {name} for name, path in modules().items()}


def test_every_module_sits_in_a_layer_or_beside_them():
    assert {layer(m) for m in modules()} <= set(LAYERS) | BESIDE


@pytest.mark.parametrize("name", sorted(modules()))
def test_a_module_imports_only_what_its_layer_may(name):
    inner, outer = imports(name, modules()[name])
    allowed = ALLOWED[layer(name)]
    wrong = sorted(m for m in inner if layer(m) != layer(name) and m not in allowed and layer(m) not in allowed
                   and not any(m == a or m.startswith(a + ".") for a in allowed))
    assert not wrong, f"{name} ({layer(name)} layer) imports {wrong}; allowed: {sorted(allowed)}"
    assert not outer & FORBIDDEN.get(layer(name), set()), f"{name} imports {sorted(outer & FORBIDDEN[layer(name)])}"


def test_the_import_graph_has_no_cycle():
    edges, state, path = graph(), {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_rules_see_a_violation():
    """The checker itself: a spec module that imports torch, or a core one that imports the grid, is caught."""
    assert "torch" in imports("spec.x", _write("spec_bad.py", "import torch\n"))[1]
    assert "spec.grid" in imports("core.x", _write("core_bad.py", "from ..spec.grid import runs\n"))[0]


def _write(name: str, text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / name
    path.write_text(text)
    return path


def test_the_spec_layer_loads_without_torch_pandas_or_numpy():
    """What the Snakefile's parse imports, imported in a fresh interpreter: none of the heavy packages load."""
    names = " ".join(f"scorebench.{m}" for m in sorted(modules()) if layer(m) == "spec")
    probe = (f"import importlib, sys\nfor m in {names.split()!r}: importlib.import_module(m)\n"
             "print(sorted(p for p in ('torch', 'pandas', 'numpy', 'scipy') if p in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
