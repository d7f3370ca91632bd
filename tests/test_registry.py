"""The one Registry type: registration forms, lazy "module:attr" names, entry points, errors,
and the replay of registrations in worker processes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tacfn.core import registry
from tacfn.core.errors import ConfigError
from tacfn.core.registry import Registry, Unportable, call_with, portable


@pytest.fixture(autouse=True)
def _isolated(monkeypatch) -> None:
    """This file's registries and replays stay out of the process-wide ones."""
    monkeypatch.setattr(registry, "_REGISTRIES", dict(registry._REGISTRIES))
    monkeypatch.setattr(registry, "_REPLAYED", {})


def _module(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(text)


def test_register_as_decorator_and_call(tmp_path: Path) -> None:
    things: Registry[object] = Registry("thing", "tacfn_robust.tests_things_a")

    @things.register
    class Alpha:
        name = "alpha"

    @things.register()
    def beta() -> int:
        return 2

    @things.register("gamma")
    def anything() -> int:
        return 3

    delta = object()
    assert things.register("delta", delta) is delta
    assert things.names() == ["alpha", "beta", "delta", "gamma"]
    assert things.get("alpha") is Alpha and things.get("beta")() == 2
    assert things.get("gamma")() == 3 and things.get("delta") is delta
    things.register("beta", beta)  # the same object again is fine
    with pytest.raises(ConfigError, match="thing 'beta' is already registered .*each name once"):
        things.register("beta", anything)


def test_lazy_targets_and_module_attr_names(tmp_path: Path, monkeypatch) -> None:
    _module(tmp_path, "lazy_things_mod", "VALUE = 41\nclass Box:\n    inner = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    things: Registry[object] = Registry("thing", "tacfn_robust.tests_things_b")
    things.register("value", "lazy_things_mod:VALUE")
    assert "lazy_things_mod" not in sys.modules  # imported on first use only
    assert things.get("value") == 41
    assert things.get("lazy_things_mod:Box.inner") == 7
    things.register("value", "lazy_things_mod:VALUE")  # same target again
    with pytest.raises(ConfigError) as info:
        things.get("no_such_module_xyz:Thing")
    assert str(info.value) == (
        "thing 'no_such_module_xyz:Thing': cannot import module 'no_such_module_xyz' "
        "(ModuleNotFoundError: No module named 'no_such_module_xyz')"
    )
    with pytest.raises(ConfigError) as info:
        things.get("lazy_things_mod:Missing")
    assert str(info.value) == (
        "thing 'lazy_things_mod:Missing': module 'lazy_things_mod' has no attribute 'Missing'"
    )


def test_unknown_names_suggest_the_closest() -> None:
    things: Registry[int] = Registry("thing", "tacfn_robust.tests_things_c")
    things.register("concat", 1)
    things.register("tacfn", 2)
    with pytest.raises(ConfigError) as info:
        things.get("tacf")
    assert str(info.value) == (
        "unknown thing 'tacf'; expected one of: concat, tacfn; did you mean 'tacfn'?"
    )
    with pytest.raises(ConfigError, match=r"unknown thing \['x'\]"):
        things.get(["x"])  # type: ignore[arg-type]


def test_entry_points_load_on_demand(tmp_path: Path, monkeypatch) -> None:
    _module(tmp_path, "ep_things_mod", "def loader():\n    return 5\n")
    info = tmp_path / "ep_things-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-things\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[tacfn_robust.tests_things_d]\nfive = ep_things_mod:loader\nbroken = ep_things_mod:nope\n"
    )
    things: Registry[object] = Registry("thing", "tacfn_robust.tests_things_d")
    assert things.names() == []
    monkeypatch.syspath_prepend(str(tmp_path))  # entry points are read again after a change
    assert things.names() == ["broken", "five"] and "five" in things
    assert things.get("five")() == 5
    with pytest.raises(ConfigError, match="thing 'broken': entry point 'ep_things_mod:nope' of"):
        things.get("broken")


def test_registrations_replay_in_a_worker(tmp_path: Path, monkeypatch) -> None:
    _module(tmp_path, "replay_things_mod", "def made():\n    return 'made'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import replay_things_mod

    parent: Registry[object] = Registry("thing", "tacfn_robust.tests_things_e")
    parent.register("made", replay_things_mod.made)
    parent.register("local", lambda: 1)
    snapshot = portable()["tacfn_robust.tests_things_e"]
    assert snapshot["made"] == "replay_things_mod:made"
    assert isinstance(snapshot["local"], Unportable)
    # A worker process: the same registry exists (created at import) but empty.
    worker: Registry[object] = Registry("thing", "tacfn_robust.tests_things_e")
    assert call_with({"tacfn_robust.tests_things_e": snapshot}, worker.names) == ["local", "made"]
    assert worker.get("made") is replay_things_mod.made
    with pytest.raises(ConfigError) as info:
        worker.get("local")
    assert str(info.value) == (
        "thing 'local' is registered in the parent process only: it is defined inside a "
        "function; expected a 'module:attr' name or an entry point in group "
        "tacfn_robust.tests_things_e (see docs/plugins.md)"
    )


def test_the_four_registries_keep_their_names() -> None:
    from tacfn.data import DATASETS
    from tacfn.models import MODELS
    from tacfn_robust.corruptions import CORRUPTIONS
    from tacfn_robust.reports.scoring.metrics import METRICS

    assert {"concat", "cross_attention", "late_average", "tacfn"} <= set(MODELS.names())
    assert {"mult_pickle", "npz", "ravdess", "synthetic"} <= set(DATASETS.names())
    assert {"accuracy", "macro_f1", "uar", "weighted_f1"} <= set(METRICS.names())
    assert {"missing", "gaussian_snr", "occlusion", "feature_noise"} <= set(CORRUPTIONS.names())
    assert [r.group for r in (MODELS, DATASETS, CORRUPTIONS, METRICS)] == [
        "tacfn_robust.models",
        "tacfn_robust.datasets",
        "tacfn_robust.corruptions",
        "tacfn_robust.metrics",
    ]
