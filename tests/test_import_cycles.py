"""No import cycles anywhere in the project, function-level imports included.

A cycle hidden in a function body (`def f(): from a import b`) still ties two modules into one: neither can be read,
tested or moved without the other, and the import order decides which half sees a half-initialised module. The graph
is read from the source (ast), so the check needs no imports of its own and sees every `import` statement at any depth.

Edges: module -> the project module it names. `from pkg import name` points at `pkg.name` when that is a module, else
at `pkg` (its __init__). A submodule's implicit import of its parent package is not an edge: that is how every package
works, and a parent's __init__ re-exporting its submodules is not a cycle."""

import ast
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parent.parent
# Every folder of Python the project holds: the packages, the scripts, benchmarks and tests that import them.
ROOTS = ("common", "offline", "sft", "grpo", "eval", "scripts", "benchmarks", "tests")


def project_modules(repo: Path = REPO) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ROOTS (a package's __init__ under the package name)."""
    modules = {}
    for root in ROOTS:
        for path in sorted((repo / root).rglob("*.py")):
            parts = list(path.relative_to(repo).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names, relative levels resolved against `module`."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(repo: Path = REPO) -> nx.DiGraph:
    modules = project_modules(repo)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(name, is_package, node)
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names
                ]
            else:
                continue
            for target in targets:
                # `import a.b.c` binds a.b.c; the nearest project module it names is the dependency.
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph.add_edge(name, target, line=node.lineno)
    return graph


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each strongly connected component of more than one module, sorted (one cycle report per tangle)."""
    return sorted(sorted(component) for component in nx.strongly_connected_components(graph) if len(component) > 1)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (function-level imports count):\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_graph_covers_the_project():
    graph = import_graph()
    assert {"common.parsing", "grpo.train", "sft.train", "eval.run"} <= set(graph)
    # grpo.rewards.samchat reads the shared parser: one edge the check must see.
    assert graph.has_edge("grpo.rewards.samchat", "common.parsing")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # a function-level import closes the cycle
        ({"a.py": "import common.b\n", "b.py": "def f():\n    from common import a\n"}, [["common.a", "common.b"]]),
        # relative imports, three modules round
        (
            {"a.py": "from .b import x\n", "b.py": "from . import c\n", "c.py": "from common.a import y\n"},
            [["common.a", "common.b", "common.c"]],
        ),
        # a package re-exporting its submodule, the submodule importing a sibling: no cycle
        ({"__init__.py": "from .a import x\n", "a.py": "from .b import y\n", "b.py": "X = 1\n"}, []),
        # a submodule importing a name from its own package's __init__, which imports it: a cycle
        ({"__init__.py": "from .a import x\n", "a.py": "from common import VERSION\n"}, [["common", "common.a"]]),
    ],
)
def test_the_check_finds_cycles(tmp_path, files, expected):
    (tmp_path / "common").mkdir()
    for name, text in files.items():
        (tmp_path / "common" / name).write_text(text)
    assert cycles(import_graph(tmp_path)) == expected
