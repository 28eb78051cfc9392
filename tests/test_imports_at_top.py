"""Imports sit at the top of the file (docs/ARCHITECTURE.md, issue 27). An import inside a function is a
deliberate deferral (a heavy or optional dependency, or a cycle) and says so: `# deferred: why` on its line or on
the line directly above it. Imports that directly follow a commented one (no line between) share its comment."""
import ast
import io
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def deferred_lines(source: str) -> set[int]:
    """The line numbers that hold a `# deferred` comment."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0] for t in tokens if t.type == tokenize.COMMENT and t.string.lstrip("# ").startswith("deferred")}


def uncommented_imports(path: Path) -> list[int]:
    """The lines of the imports inside functions (nested ones too) that do not say why they are deferred."""
    source = path.read_text()
    marked = deferred_lines(source)
    inner = []

    def walk(node, in_function):
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, (ast.Import, ast.ImportFrom)):
                inner.append(child)
            walk(child, in_function or isinstance(child, FUNCTIONS))

    walk(ast.parse(source, str(path)), False)
    covered, bad = set(), []
    for node in sorted(inner, key=lambda n: n.lineno):
        if node.lineno in marked or node.lineno - 1 in marked or node.lineno - 1 in covered:
            covered.add(node.end_lineno)  # the next import, right below, shares the comment
        else:
            bad.append(node.lineno)
    return bad


def test_every_import_inside_a_function_says_why_it_is_deferred():
    bad = [f"{path.relative_to(ROOT)}:{line}"
           for path in sorted((ROOT / "engine").rglob("*.py")) + sorted((ROOT / "studio").rglob("*.py"))
           for line in uncommented_imports(path)]
    assert not bad, ("move these imports to the top of their file, or say why they wait with a `# deferred: ...` "
                     "comment:\n" + "\n".join(bad))


def test_the_checker_catches_an_uncommented_import(tmp_path):
    bad = tmp_path / "media.py"
    bad.write_text("import os\n\n\n"
                   "def f():\n"
                   "    import json\n"
                   "    import re  # deferred: a reason\n"
                   "    import av\n"
                   "\n"
                   "    # deferred: another reason\n"
                   "    from engine.video import (\n"
                   "        media,\n"
                   "    )\n"
                   "    import cv2\n"
                   "\n"
                   "    def g():\n"
                   "        import torch\n"
                   "        return torch\n"
                   "    return g\n")
    assert uncommented_imports(bad) == [5, 16]
