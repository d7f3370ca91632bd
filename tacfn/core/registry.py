"""The one registry type: models, data sets, corruptions and metrics by name.

A name resolves, in this order, to an object registered in this process (`register`), a
lazy `"module:attr"` target registered under a name, a `"module:attr"` name itself, or an
entry point of the registry's group (`tacfn_robust.models`, ...). Lazy targets and entry
points are imported on first use.

A `"module:attr"` name that is none of a registry's entries is code its writer chose to run:
a protocol file may name one only with `trust_code: true` (`TRUST_CODE`; `is_code`,
`untrusted` say which names and how to refuse them).

Worker processes (a spawned pool, Dask) do not run the parent's `register` calls.
`portable()` captures every registration as an importable `"module:attr"` target and
`call_with(registrations, fn, *args)` replays them in the worker before calling `fn`; an
object that no other process can import (defined in `__main__` or inside a function) is
named by its error there.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from tacfn.core.errors import ConfigError, excerpt, unknown_message

T = TypeVar("T")

PLUGINS_DOC = "docs/plugins.md"
TRUST_CODE = "trust_code"  # the protocol field that lets a file name "module:attr" code
_TARGET = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

# Registrations replayed from the parent process: group -> name -> "module:attr" target, or
# the reason no worker can import it.
_REPLAYED: dict[str, dict[str, str | Unportable]] = {}
_REGISTRIES: dict[str, Registry[Any]] = {}


class Unportable(str):
    """Why a parent-process registration cannot be imported in a worker."""


def check_target(target: str, kind: str) -> None:
    """A one-line ConfigError unless `target` has the form `"module:attr"` (dotted names);
    imports nothing."""
    if not _TARGET.fullmatch(target):
        raise ConfigError(
            f"{kind} {excerpt(target)}: expected 'module:attr', e.g. 'my_pkg.fusion:MyFusion'"
        )


def untrusted(name: str) -> str:
    """Why a protocol without `trust_code: true` may not name `name`, a "module:attr" name."""
    return (
        f"{excerpt(name)} is a 'module:attr' name: using it imports and runs that module; "
        f"expected a registered name or a plug-in's entry point (see {PLUGINS_DOC}), or "
        f"{TRUST_CODE}: true at the top level of a protocol you trust"
    )


def import_target(target: str, kind: str) -> Any:
    """The attribute named by `"module:attr"` (attr may be dotted); one-line ConfigError."""
    check_target(target, kind)
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time failure of user code, as one line
        raise ConfigError(
            f"{kind} {target!r}: cannot import module {module_name!r} ({type(exc).__name__}: {exc})"
        ) from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(
                f"{kind} {target!r}: module {module_name!r} has no attribute {attr!r}"
            )
        obj = getattr(obj, part)
    return obj


def origin(obj: object) -> str | Unportable:
    """`"module:qualname"` by which any process can import `obj`, or why it cannot."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname:
        return Unportable(f"it is a {type(obj).__name__} instance, not a module-level object")
    if module in ("__main__", "__mp_main__"):
        return Unportable("it is defined in the __main__ script, which workers do not import")
    if "<locals>" in qualname or "<lambda>" in qualname:
        return Unportable("it is defined inside a function")
    return f"{module}:{qualname}"


class Registry(Generic[T]):
    """Objects of one kind by name: registered, lazy `"module:attr"`, or entry points."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind, self.group = kind, group
        self._objects: dict[str, T] = {}
        self._targets: dict[str, str] = {}  # lazy "module:attr" registrations
        self._loaded: dict[str, T] = {}  # what lazy targets, names and entry points imported
        self._entry_points: tuple[tuple[str, ...], dict[str, EntryPoint]] | None = None
        _REGISTRIES[group] = self

    def register(self, name: str | T | None = None, obj: T | str | None = None) -> Any:
        """Register `obj` under `name`: `@register()`, `@register("x")`, bare `@register`,
        `register("x", obj)` or `register("x", "module:attr")` (imported on first use).

        Without a name, the object's `name` attribute (when a string) or `__name__` is used.
        Registering a name again is an error unless it is the same object.
        """
        if name is not None and not isinstance(name, str):  # bare decorator
            return self._add(None, name)
        if obj is not None:
            return self._add(name, obj)
        return lambda target: self._add(name, target)

    def _add(self, name: str | None, obj: Any) -> Any:
        if name is None:
            given = getattr(obj, "name", None)
            name = given if isinstance(given, str) else getattr(obj, "__name__", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} {obj!r}: no name; expected register('name', obj)")
        previous = self._targets.get(name, self._objects.get(name))
        if previous is not None and not self._same(previous, obj):
            raise ConfigError(
                f"{self.kind} {name!r} is already registered ({self._describe(previous)}); "
                "expected each name once"
            )
        if isinstance(obj, str):
            self._targets[name] = obj
        else:
            self._objects[name] = obj
        return obj

    @staticmethod
    def _same(a: Any, b: Any) -> bool:
        if a is b:
            return True
        as_text = [x if isinstance(x, str) else origin(x) for x in (a, b)]
        return not isinstance(as_text[0], Unportable) and as_text[0] == as_text[1]

    @staticmethod
    def _describe(obj: Any) -> str:
        return obj if isinstance(obj, str) else str(origin(obj))

    def _group_entry_points(self) -> dict[str, EntryPoint]:
        """The group's entry points, read again whenever sys.path has changed."""
        path = tuple(sys.path)
        if self._entry_points is None or self._entry_points[0] != path:
            found = {ep.name: ep for ep in entry_points(group=self.group)}
            self._entry_points = (path, found)
        return self._entry_points[1]

    def names(self) -> list[str]:
        """Every name this registry resolves without a `"module:attr"` name, sorted."""
        replayed = _REPLAYED.get(self.group, {})
        return sorted({*self._objects, *self._targets, *replayed, *self._group_entry_points()})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self._objects
            or name in self._targets
            or name in _REPLAYED.get(self.group, {})
            or name in self._group_entry_points()
        )

    def is_code(self, name: object) -> bool:
        """Whether resolving `name` imports a module the name itself names: a `"module:attr"`
        name that is none of this registry's entries (imports nothing)."""
        return isinstance(name, str) and ":" in name and name not in self

    def get(self, name: str) -> T:
        """The object named `name`; unknown names list the valid ones ("did you mean")."""
        if not isinstance(name, str):
            raise ConfigError(unknown_message(self.kind, name, self.names()))
        if name in self._objects:
            return self._objects[name]
        if name in self._loaded:
            return self._loaded[name]
        target = self._targets.get(name)
        if target is None:
            target = _REPLAYED.get(self.group, {}).get(name)
            if isinstance(target, Unportable):
                raise ConfigError(
                    f"{self.kind} {name!r} is registered in the parent process only: {target}; "
                    f"expected a 'module:attr' name or an entry point in group {self.group} "
                    f"(see {PLUGINS_DOC})"
                )
        if target is not None:
            obj = import_target(target, self.kind)
        elif ":" in name:
            obj = import_target(name, self.kind)
        elif name in self._group_entry_points():
            obj = self._load_entry_point(self._group_entry_points()[name])
        else:
            raise ConfigError(unknown_message(self.kind, name, self.names()))
        self._loaded[name] = obj
        return obj

    def _load_entry_point(self, ep: EntryPoint) -> T:
        try:
            return ep.load()
        except Exception as exc:  # a broken plug-in, as one line
            raise ConfigError(
                f"{self.kind} {ep.name!r}: entry point {ep.value!r} of group {self.group} "
                f"fails to load ({type(exc).__name__}: {exc})"
            ) from None

    def portable(self) -> dict[str, str | Unportable]:
        """Name -> importable `"module:attr"` target (or why none) of every registration."""
        out: dict[str, str | Unportable] = dict(_REPLAYED.get(self.group, {}))
        out.update(self._targets)
        out.update({name: origin(obj) for name, obj in self._objects.items()})
        return out


def portable() -> dict[str, dict[str, str | Unportable]]:
    """Every registry's registrations as importable targets, to replay in a worker."""
    return {group: registry.portable() for group, registry in _REGISTRIES.items()}


def unportable() -> list[str]:
    """`"<kind> <name>: <why>"` of every registration no worker process can import."""
    return [
        f"{_REGISTRIES[group].kind} {name}: {why}"
        for group, targets in portable().items()
        for name, why in targets.items()
        if isinstance(why, Unportable)
    ]


def replay(registrations: dict[str, dict[str, str | Unportable]]) -> None:
    """Make the parent's registrations resolvable here; names registered here take precedence."""
    for group, targets in registrations.items():
        _REPLAYED.setdefault(group, {}).update(targets)


def call_with(
    registrations: dict[str, dict[str, str | Unportable]], fn: Callable[..., Any], *args: Any
) -> Any:
    """Replay `registrations` in this (worker) process, then return `fn(*args)`."""
    replay(registrations)
    return fn(*args)
