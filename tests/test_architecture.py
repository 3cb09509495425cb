"""The import rules of ARCHITECTURE.md, checked on the source (every import, function-level ones too),
and the fast start of the command line (no torch for ``--help`` or ``colormnet weights path``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "colormnet"

# (importer prefix, forbidden prefixes): a module whose dotted name starts with the importer prefix
# must not import a module starting with any forbidden prefix. See ARCHITECTURE.md, "Import rules".
APPS = ("colormnet.cli", "colormnet.api", "colormnet.benchmark", "colormnet.demo", "colormnet.ui", "colormnet.study",
        "colormnet.batch")
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colormnet.model", ("colormnet.memory", "colormnet.inference", "colormnet.io", "colormnet.eval",
                         "colormnet.train", "colormnet.models", "colormnet.weights", *APPS)),
    ("colormnet.memory", ("colormnet.model", "colormnet.inference", "colormnet.io", "colormnet.eval",
                          "colormnet.train", "colormnet.models", *APPS)),
    ("colormnet.io", ("colormnet.model", "colormnet.memory", "colormnet.inference", "colormnet.eval",
                      "colormnet.train", "colormnet.models", *APPS)),
    ("colormnet.eval", ("colormnet.inference", "colormnet.train", "colormnet.model", "colormnet.memory",
                        "colormnet.models", *APPS)),
    ("colormnet.inference", ("colormnet.train", "colormnet.eval", *APPS)),
    ("colormnet.train", APPS),
    ("colormnet.models", ("colormnet.inference", "colormnet.train", "colormnet.eval", *APPS)),
    ("colormnet.weights", ("colormnet.model", "colormnet.inference", "colormnet.train", *APPS)),
    ("colormnet.device", ("colormnet.model", "colormnet.inference", "colormnet.train", *APPS)),
    ("colormnet.config", ("colormnet.",)),  # configs are plain data: only errors (checked below)
    ("colormnet.errors", ("colormnet.",)),
    ("colormnet.color", ("colormnet.",)),
    ("colormnet.testing.recipe", ("colormnet.",)),
    ("colormnet.api", ("colormnet.cli", "colormnet.ui", "colormnet.study", "colormnet.batch")),
    ("colormnet.benchmark", ("colormnet.cli", "colormnet.ui", "colormnet.study", "colormnet.batch")),
    ("colormnet.ui", ("colormnet.cli",)),
    ("colormnet.study", ("colormnet.cli",)),
    ("colormnet.batch", ("colormnet.cli",)),
)
ALLOWED_EXCEPTIONS = {("colormnet.config", "colormnet.errors")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(
                "colormnet.") and " " not in node.value and path.name == "__init__.py":
            found.add(node.value)  # lazy re-export tables name their modules as strings
    return found


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _violations(modules: dict[str, set[str]]) -> list[str]:
    """``{module: imported modules}`` -> one line per import that breaks a rule of :data:`RULES`."""
    problems = []
    for me, imports in modules.items():
        for imported in imports:
            if not imported.startswith("colormnet"):
                continue
            for importer, forbidden in RULES:
                if not _matches(me, importer) or _matches(imported, importer):
                    continue
                for bad in forbidden:
                    if _matches(imported, bad) and (importer, imported) not in ALLOWED_EXCEPTIONS:
                        problems.append(f"{me} imports {imported} (rule: {importer} must not import {bad})")
    return sorted(set(problems))


def test_layer_rules():
    problems = _violations({_module_name(p): _imports(p) for p in _sources()})
    assert not problems, "\n".join(problems)


def test_rules_catch_violations():
    """The checker itself: a model module importing the engine, or eval importing train, is caught."""
    found = _violations({"colormnet.model.x": {"colormnet.inference.engine"},
                         "colormnet.eval.y": {"colormnet.train.dataset", "colormnet.io.images"},
                         "colormnet.inference.z": {"colormnet.model.network"}})
    assert found == ["colormnet.eval.y imports colormnet.train.dataset (rule: colormnet.eval must not import "
                     "colormnet.train)",
                     "colormnet.model.x imports colormnet.inference.engine (rule: colormnet.model must not "
                     "import colormnet.inference)"]


def test_nothing_below_cli_imports_cli():
    offenders = [(_module_name(p), m) for p in _sources() for m in _imports(p)
                 if _matches(m, "colormnet.cli") and not _matches(_module_name(p), "colormnet.cli")
                 and _module_name(p) != "colormnet.__main__"]
    assert not offenders


def test_io_and_config_do_not_import_torch():
    offenders = [_module_name(p) for p in _sources() for m in _imports(p) if _matches(m, "torch")
                 and (_matches(_module_name(p), "colormnet.io") or _module_name(p) == "colormnet.config")]
    assert not offenders


def test_only_cli_imports_argparse():
    offenders = [_module_name(p) for p in _sources() if "argparse" in _imports(p)
                 and not _matches(_module_name(p), "colormnet.cli")]
    assert not offenders


@pytest.mark.parametrize("argv", [["--help"], ["colorize", "--help"], ["weights", "path"], ["train", "--help"],
                                  ["batch", "--help"]])
def test_cli_starts_without_torch(argv, tmp_path):
    code = ("import sys\nfrom colormnet.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'av', 'numpy', 'PIL') if m in sys.modules)\n"
            "print('HEAVY', heavy, file=sys.stderr)\n")
    env = {"PATH": "/usr/bin:/bin", "COLORMNET_CACHE": str(tmp_path), "PYTHONPATH": str(SRC)}
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                          timeout=60)
    assert "HEAVY []" in proc.stderr, proc.stderr[-2000:]


def test_public_api_is_lazy():
    code = ("import sys, colormnet\nassert 'torch' not in sys.modules\n"
            "from colormnet import build_model, colorize_video, colorize_frames, ColorizationSession, Exemplar\n"
            "assert 'torch' in sys.modules\nprint('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC)}, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr[-2000:]
