"""Declared dependencies equal imported ones; the library imports anywhere and changes nothing.

[project.dependencies] (and the `dist` extra) must be exactly what the library packages
import, and the `dev` extra what tests/ and benchmarks/ import beyond that; both directions
are checked through an explicit import-name -> distribution map. A few distributions are
used without an import statement; each says how, and the test checks that use.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the dev extra's tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LIBRARY = ("tacfn", "tacfn_robust", "corruptions", "protocols", "reports")
DEVELOPMENT = ("tests", "benchmarks")
# Modules of this repository that tests import as top-level names, and the plug-in modules
# tests write into a temporary directory at run time.
LOCAL = {
    *LIBRARY,
    "benchmarks",
    *(p.stem for p in (ROOT / "tests").glob("*.py")),
    "replay_things_mod",
    "newcomer_plugin",
    "reversed_concat_fusion",
}
DISTRIBUTION = {  # import name -> the distribution that provides it
    "albumentations": "albumentations",
    "audiomentations": "audiomentations",
    "av": "av",
    "dask": "dask",
    "fast_mp3_augment": "fast-mp3-augment",
    "hypothesis": "hypothesis",
    "jinja2": "jinja2",
    "matplotlib": "matplotlib",
    "mlflow": "mlflow-skinny",
    "numpy": "numpy",
    "pandas": "pandas",
    "PIL": "pillow",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",  # pydantic's own core, installed at the version pydantic pins
    "pytest": "pytest",
    "rich": "rich",
    "scikit_posthocs": "scikit-posthocs",
    "scipy": "scipy",
    "seaborn": "seaborn",
    "sklearn": "scikit-learn",
    "soundfile": "soundfile",
    "tomli": "tomli",
    "torch": "torch",
    "torchaudio": "torchaudio",
    "typer": "typer",
    "yaml": "pyyaml",
}
# Distributions used without an import statement, and where that use is.
WITHOUT_IMPORT = {
    "alembic": "MLflow SQLite store (tacfn_robust.reports.rendering.tracking; mlflow extra)",
    "sqlalchemy": "MLflow SQLite store (tacfn_robust.reports.rendering.tracking; mlflow extra)",
    "tabulate": "pandas' DataFrame.to_markdown (tacfn_robust.reports.rendering.export)",
    "pyarrow": "pandas' parquet engine (tacfn.core.store.write_parquet, pd.read_parquet)",
    "pytest-timeout": "the `timeout` setting in [tool.pytest.ini_options]",
    "ruff": "the linter configured in [tool.ruff]",
}


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (PEP 503)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _imports(packages: tuple[str, ...]) -> dict[str, str]:
    """Top-level third-party import name -> one file importing it: import statements at any
    depth, and import_module("literal") calls."""
    found: dict[str, str] = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", None))
                    == "import_module"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    names = [node.args[0].value]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _distributions(imports: dict[str, str]) -> set[str]:
    unmapped = {name: where for name, where in imports.items() if name not in DISTRIBUTION}
    assert not unmapped, f"add these imports to DISTRIBUTION: {unmapped}"
    return {_name(DISTRIBUTION[name]) for name in imports}


def _declared(requirements: list[str]) -> set[str]:
    return {_name(r) for r in requirements}


def test_the_library_imports_exactly_its_declared_dependencies() -> None:
    imported = _distributions(_imports(LIBRARY))
    required = _declared(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    optional = _declared(extras["dist"]) | _declared(extras["mlflow"])
    assert imported - required - optional == set(), "imported by the library, not declared"
    unused = (required | optional) - imported - set(WITHOUT_IMPORT)
    assert unused == set(), "declared for the library, never imported"


def test_tests_and_benchmarks_import_exactly_the_dev_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    library = _declared(PYPROJECT["project"]["dependencies"]) | _declared(extras["dist"])
    library |= _declared(extras["mlflow"])
    imported = _distributions(_imports(DEVELOPMENT))
    dev = _declared(extras["dev"])
    assert imported - library - dev == set(), "imported by tests or benchmarks, not declared"
    assert dev - imported - set(WITHOUT_IMPORT) == set(), "in the dev extra, never imported"


def test_distributions_used_without_an_import_are_used() -> None:
    assert PYPROJECT["tool"]["pytest"]["ini_options"]["timeout"] > 0
    assert PYPROJECT["tool"]["ruff"]["lint"]["select"]
    store = (ROOT / "tacfn" / "core" / "store.py").read_text()
    assert ".to_parquet(" in store  # pandas needs pyarrow (or fastparquet) for it
    export = (ROOT / "reports" / "rendering" / "export.py").read_text()
    assert ".to_markdown(" in export  # pandas needs tabulate for it
    tracking = (ROOT / "reports" / "rendering" / "tracking.py").read_text()
    assert "sqlite:///" in tracking  # MLflow's SQL store needs sqlalchemy and alembic


def test_ranges_in_pyproject_pins_in_constraints() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    everything = PYPROJECT["project"]["dependencies"] + [r for e in extras.values() for r in e]
    assert [r for r in everything if "==" in r] == []
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    pinned = {_name(line.split("==")[0]) for line in pins if "==" in line}
    # a requirement with an environment marker (tomli: Python 3.10) is absent from the freeze
    unpinned = [r for r in everything if ";" not in r and _name(r) not in pinned]
    assert unpinned == [], "pin every declared distribution in constraints.txt"


def _import_state(setup: str) -> dict:
    """Import every package in a fresh interpreter (MPLBACKEND unset) after `setup`; whether
    matplotlib's rcParams (raw, backend included) are unchanged by it."""
    code = (
        f"{setup}\n"
        "import json, matplotlib\n"
        "before = dict.copy(matplotlib.rcParams)\n"
        "import tacfn, tacfn_robust, protocols, reports, corruptions\n"
        "import tacfn_robust.reports.rendering.plots, tacfn_robust.reports.build, tacfn.core.io\n"
        "after = dict.copy(matplotlib.rcParams)\n"
        "changed = sorted(k for k in before.keys() | after.keys()"
        " if repr(before.get(k)) != repr(after.get(k)))\n"
        "print(json.dumps({'changed': changed}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_packages_leaves_matplotlib_state_unchanged() -> None:
    assert _import_state("")["changed"] == []


def test_the_packages_import_without_fcntl() -> None:
    """As on Windows: fcntl cannot be imported."""
    assert _import_state("import sys; sys.modules['fcntl'] = None")["changed"] == []


def test_drawing_a_figure_leaves_matplotlib_state_unchanged(tmp_path: Path) -> None:
    import matplotlib
    import pandas as pd

    from tacfn_robust.reports.rendering import plots

    before = dict.copy(matplotlib.rcParams)
    means = pd.DataFrame(
        {
            "model": ["a", "a"],
            "regime": ["clean", "clean"],
            "sweep": ["s", "s"],
            "condition": ["s=0", "s=1"],
            "value": [0.0, 1.0],
            "param": ["p", "p"],
            "unit": ["share", "share"],
            "metric": ["accuracy", "accuracy"],
            "mean": [0.9, 0.5],
            "ci_low": [0.8, 0.4],
            "ci_high": [1.0, 0.6],
        }
    )
    palette = {"a": {"color": "#123456", "marker": "o"}}
    path = plots.curve_plot(means, "s", tmp_path / "curve.png", palette)
    assert path.is_file() and path.stat().st_size > 0
    after = dict.copy(matplotlib.rcParams)
    assert {k for k in before if repr(before[k]) != repr(after.get(k))} == set()


def test_the_distribution_installs_every_package_under_its_own_names() -> None:
    """pyproject.toml lists every package folder, and claims no generic top-level name."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    mapped = {folder: name for name, folder in setuptools["package-dir"].items()}
    folders = {p.parent.relative_to(ROOT) for top in LIBRARY for p in (ROOT / top).rglob("*.py")}
    expected = set()
    for folder in folders:
        top, *rest = folder.parts
        expected.add(".".join([mapped.get(top, top), *rest]))
    assert set(setuptools["packages"]) == expected
    assert {name.split(".")[0] for name in setuptools["packages"]} == {"tacfn", "tacfn_robust"}
