"""The docs state facts about the code: the files they name exist, the Python names they name
resolve, docs/protocols.md's defaults are the schema's and its example is the shipped default
protocol."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tacfn_robust.protocols import load_protocol, shipped_protocols, validate

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
TOP = ("tacfn", "tacfn_robust", "corruptions", "protocols", "reports", "tests", "benchmarks",
       "docs", "examples")  # fmt: skip
PATH = re.compile(rf"\b(?:{'|'.join(TOP)})/[\w./-]*\w\.(?:py|yaml|md|j2|json|toml)\b")
NAME = re.compile(r"`((?:tacfn_robust|tacfn|corruptions|protocols|reports)(?:\.\w+)+)")
ENTRY_POINT_GROUPS = {f"tacfn_robust.{kind}" for kind in ("models", "datasets", "corruptions",
                                                           "metrics")}  # fmt: skip


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_repository_path_a_doc_names_exists(doc: Path) -> None:
    missing = sorted({p for p in PATH.findall(doc.read_text()) if not (ROOT / p).exists()})
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_every_python_name_a_doc_names_resolves(doc: Path) -> None:
    names = set(NAME.findall(doc.read_text())) - ENTRY_POINT_GROUPS
    unresolved = sorted(n for n in names if not _resolves(n))
    assert not unresolved, f"{doc.name} names Python objects that do not exist: {unresolved}"


def _reference_defaults() -> dict[str, str]:
    """field -> stated default of docs/protocols.md's field reference (literal defaults)."""
    text = (ROOT / "docs" / "protocols.md").read_text()
    reference = text.split("## Field reference", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in reference.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`[\w.]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def _literal(text: str) -> Any:
    """A stated default as a value: `adam`, 0.95, [0], false; None when it is words."""
    text = text.strip("`")
    if text in ("none", "required", "all", "–") or " " in text or "<" in text:
        return None
    return yaml.safe_load(text)


def test_the_field_reference_defaults_are_the_schemas() -> None:
    minimal = validate({"name": "x", "models": ["concat"]}).model_dump(mode="json")
    stated = _reference_defaults()
    checked = 0
    for field, default in stated.items():
        expected = _literal(default)
        if expected is None:
            continue
        value: Any = minimal
        for key in field.split("."):
            value = value[key]
        assert value == expected, f"docs/protocols.md: {field} default {default}; schema {value!r}"
        checked += 1
    assert checked >= 15, f"only {checked} literal defaults found in the field reference"


def _shipped_table() -> dict[str, str]:
    """protocol name -> its grid cell in docs/protocols.md's "Shipped protocols" table."""
    text = (ROOT / "docs" / "protocols.md").read_text()
    table = text.split("## Shipped protocols", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[2]
    return rows


def test_the_shipped_protocols_table_states_their_grids() -> None:
    rows = _shipped_table()
    assert sorted(rows) == sorted(shipped_protocols())
    checked = 0
    for name, grid in rows.items():
        protocol = load_protocol(name)
        counts = {
            r"(\d+) (?:fusion )?models": len(protocol.models),
            r"(\d+) regimes?\b": len(protocol.train.regimes),
            r"(\d+) seeds?\b": len(protocol.seeds),
        }
        for pattern, actual in counts.items():
            stated = re.search(pattern, grid)
            if stated:
                assert int(stated.group(1)) == actual, f"docs/protocols.md: {name}: {grid!r}"
                checked += 1
    assert checked >= 20, f"only {checked} counts stated in the shipped protocols table"


def test_the_protocols_page_example_is_the_shipped_default_protocol() -> None:
    text = (ROOT / "docs" / "protocols.md").read_text()
    example = re.search(r"## Example\n+```yaml\n(.*?)```", text, re.S)
    assert example, "docs/protocols.md has no Example yaml block"
    shipped = load_protocol("missing_audio")
    documented = validate(yaml.safe_load(example.group(1)), "docs/protocols.md")
    assert documented.model_dump(exclude={"description"}) == shipped.model_dump(
        exclude={"description"}
    )
