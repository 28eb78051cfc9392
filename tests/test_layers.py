"""The engine's layers (docs/ARCHITECTURE.md): imports point one way. A module imports only from its own layer or
the layers before it, wherever the import sits (top of the file or inside a function)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = [  # in order: each may import from itself and the ones above it
    ("engine.errors", "engine.defaults", "engine.datafiles", "engine"),
    ("engine.models",),
    ("engine.world",),
    ("engine.layout",),
    ("engine.video",),
    ("engine.provenance",),
    ("engine.sampling",),
    ("engine.request",),
    ("engine.families",),
    ("engine.service", "engine.longtake"),
    ("engine.verbs",),
    ("engine.scenes",),
    ("engine.training",),
    ("engine.bench",),
    ("engine.cli", "engine.__main__"),
    ("studio",),
]
API = {"__init__.py", "__main__.py", "errors.py", "defaults.py", "datafiles.py", "request.py", "service.py",
       "longtake.py"}


def layer_of(module: str) -> int | None:
    best = None
    for i, names in enumerate(LAYERS):  # the longest name that matches: "engine" only for the package itself
        for n in names:
            if (module == n or module.startswith(n + ".") and n != "engine") and (best is None or len(n) > best[1]):
                best = (i, len(n))
    return None if best is None else best[0]


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] if base in ("engine", "studio") else [base]
            out += [(node.lineno, n) for n in names]
    return out


def modules():
    for path in sorted((ROOT / "engine").rglob("*.py")) + sorted((ROOT / "studio").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield path, ".".join(rel.parts).removesuffix(".__init__")


def test_every_module_has_a_layer_and_imports_point_one_way():
    wrong = []
    for path, module in modules():
        mine = layer_of(module)
        assert mine is not None, f"{module} belongs to no layer; add its folder to LAYERS and ARCHITECTURE.md"
        for line, name in imports(path, module):
            theirs = layer_of(name)
            if theirs is not None and theirs > mine:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({LAYERS[theirs][0]} is above "
                             f"{LAYERS[mine][0]})")
    assert not wrong, "\n".join(wrong)


def test_only_the_public_api_sits_at_the_top_of_engine():
    top = {p.name for p in (ROOT / "engine").glob("*.py")}
    assert top <= API, f"move {sorted(top - API)} into the folder named for its job"


def test_the_checker_catches_an_upward_import(tmp_path):
    bad = tmp_path / "media.py"
    bad.write_text("def f():\n    from engine.service import Engine\n")
    found = [n for _, n in imports(bad, "engine.video.media") if layer_of(n) > layer_of("engine.video.media")]
    assert found == ["engine.service"]
