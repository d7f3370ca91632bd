"""Import direction: no module imports from a higher layer (docs/architecture.md, "Layers"),
and a reports stage imports only its own stage and earlier ones ("The reports pipeline").

Every module of the five packages is parsed with ast; imports at any depth count, including
those inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_UNDER = ("corruptions", "protocols", "reports")  # repository folders in tacfn_robust
PACKAGES = (
    "tacfn",
    "tacfn_robust.corruptions",
    "tacfn_robust.protocols",
    "tacfn_robust.reports",
    "tacfn_robust",
)
FIRST_PARTY = (*PACKAGES, "tacfn.core", "tacfn.data", "tacfn.models", "tacfn.train")
LIBRARY = ("tacfn", "tacfn.core", "tacfn.data", "tacfn.models", "tacfn.train")

# What each part may import from the toolkit (longest matching prefix decides) and which
# third-party packages it must not import.
ALLOWED: dict[str, tuple[str, ...]] = {
    "tacfn.core": ("tacfn.core",),
    "tacfn": LIBRARY,  # tacfn/__init__.py holds only the version
    "tacfn.data": LIBRARY,
    "tacfn.models": LIBRARY,
    "tacfn.train": LIBRARY,
    "tacfn_robust.corruptions": ("tacfn", "tacfn.core", "tacfn_robust.corruptions"),
    "tacfn_robust.reports": ("tacfn", "tacfn.core", "tacfn_robust.reports"),
    "tacfn_robust.protocols": (
        *LIBRARY,
        "tacfn_robust.corruptions",
        "tacfn_robust.reports",
        "tacfn_robust.protocols",
    ),
    "tacfn_robust": FIRST_PARTY,
}
FORBIDDEN_THIRD_PARTY = {"tacfn_robust.reports": ("torch", "torchvision", "torchaudio")}

# reports/ is a pipeline: each stage's position; rendering and the gate both consume
# statistics and never each other. reports/__init__.py, reports/build.py (one run) and
# reports/compare.py (two runs) run the stages and may import them all.
STAGES = {
    "tacfn_robust.reports.reading": 1,
    "tacfn_robust.reports.scoring": 2,
    "tacfn_robust.reports.statistics": 3,
    "tacfn_robust.reports.rendering": 4,
    "tacfn_robust.reports.gate": 4,
}
PIPELINE = ("tacfn_robust.reports", "tacfn_robust.reports.build", "tacfn_robust.reports.compare")


def _part(name: str, table: tuple[str, ...] | dict[str, object]) -> str | None:
    """The longest entry of `table` that is `name` or a package above it."""
    matches = [p for p in table if name == p or name.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def _module_name(path: Path) -> str:
    """The installed name of a module (corruptions/, protocols/ and reports/ install under
    tacfn_robust, pyproject.toml's package-dir)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in INSTALLED_UNDER:
        parts.insert(0, "tacfn_robust")
    return ".".join(parts)


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, at any depth."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            found += [(node.lineno, f"{name}.{a.name}") for a in node.names if a.name != "*"]
    return found


def _check(path: Path, module: str) -> list[str]:
    """Every import of one module that its layer forbids, naming the module and the import."""
    part = _part(module, ALLOWED)
    assert part is not None, module
    banned = FORBIDDEN_THIRD_PARTY.get(part, ())
    problems = []
    for line, name in _imports(path, module):
        where = f"{path.name}:{line}: {module} imports {name}"
        target = _part(name, FIRST_PARTY)
        if target is not None and target not in ALLOWED[part]:
            problems.append(f"{where} (layer {part} may import only {', '.join(ALLOWED[part])})")
        if name.split(".")[0] in banned:
            problems.append(f"{where} ({part} never imports {name.split('.')[0]})")
    return problems


def _stage_check(path: Path, module: str) -> list[str]:
    """Every import of a reports module that the stage order forbids."""
    stage = _part(module, STAGES)
    if module in PIPELINE or not module.startswith("tacfn_robust.reports."):
        return []
    if stage is None:
        return [f"{path.name}: {module} is in no stage (expected reports/<stage>/)"]
    problems = []
    for line, name in _imports(path, module):
        if not (name == "tacfn_robust.reports" or name.startswith("tacfn_robust.reports.")):
            continue
        target = _part(name, STAGES)
        if target == stage or (target is not None and STAGES[target] < STAGES[stage]):
            continue
        problems.append(
            f"{path.name}:{line}: {module} imports {name} "
            f"(stage {stage} may import only its own stage and earlier ones)"
        )
    return problems


def test_no_module_imports_a_higher_layer() -> None:
    problems = [
        problem
        for folder in ("tacfn", *INSTALLED_UNDER, "tacfn_robust")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for problem in _check(path, _module_name(path))
    ]
    assert not problems, "\n".join(sorted(set(problems)))


def test_reports_stages_import_only_earlier_stages() -> None:
    problems = [
        problem
        for path in sorted((ROOT / "reports").rglob("*.py"))
        for problem in _stage_check(path, _module_name(path))
    ]
    assert not problems, "\n".join(sorted(set(problems)))


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        (
            "from tacfn_robust.reports.rendering import plots\n",
            "tacfn_robust.reports.statistics.x",
            "imports tacfn_robust.reports.rendering",
        ),
        (
            "from tacfn_robust.reports.rendering.formats import fmt\n",
            "tacfn_robust.reports.gate.x",
            "imports tacfn_robust.reports.rendering",
        ),
        (
            "def f():\n    from tacfn_robust.reports.build import check\n",
            "tacfn_robust.reports.gate.x",
            "tacfn_robust.reports.build",
        ),
        (
            "from ..statistics import analysis\n",
            "tacfn_robust.reports.scoring.x",
            "tacfn_robust.reports.statistics",
        ),
        (
            "import tacfn_robust.reports\n",
            "tacfn_robust.reports.reading.x",
            "imports tacfn_robust.reports ",
        ),
        (
            "from tacfn_robust.reports.gate import baseline\n",
            "tacfn_robust.reports.rendering.x",
            "imports tacfn_robust.reports.gate",
        ),
    ],
)
def test_a_planted_stage_violation_is_named(
    tmp_path: Path, source: str, module: str, expected: str
) -> None:
    path = tmp_path / "x.py"
    path.write_text(source)
    assert any(expected in problem for problem in _stage_check(path, module)), _stage_check(
        path, module
    )


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        (
            "import torch\n",
            "tacfn_robust.reports.x",
            "tacfn_robust.reports.x imports torch (tacfn_robust.reports never imports torch)",
        ),
        (
            "def f():\n    from tacfn_robust.protocols import plan\n",
            "tacfn_robust.corruptions.x",
            "imports tacfn_robust.protocols",
        ),
        (
            "from tacfn.models import build_model\n",
            "tacfn_robust.reports.x",
            "imports tacfn.models",
        ),
        ("from tacfn.train import fit\n", "tacfn_robust.corruptions.x", "imports tacfn.train"),
        (
            "from tacfn.data import build_dataset\n",
            "tacfn_robust.corruptions.x",
            "imports tacfn.data",
        ),
        (
            "from tacfn_robust import cli\n",
            "tacfn_robust.protocols.x",
            "tacfn_robust.protocols.x imports tacfn_robust",
        ),
        ("from .. import runner\n", "tacfn.core.x", "tacfn.core.x imports tacfn.runner"),
        (
            "import tacfn_robust.protocols.runner\n",
            "tacfn.models.x",
            "imports tacfn_robust.protocols.runner",
        ),
        (
            "from tacfn.models import fill\n",
            "tacfn_robust.corruptions.x",
            "imports tacfn.models.fill",
        ),
    ],
)
def test_a_planted_violation_is_named(
    tmp_path: Path, source: str, module: str, expected: str
) -> None:
    path = tmp_path / "x.py"
    path.write_text(source)
    assert any(expected in problem for problem in _check(path, module)), _check(path, module)
