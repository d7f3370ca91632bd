"""Loading protocols: files or shipped names, --set overrides, one-line errors, stable hashes."""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tacfn.core.errors import ConfigError, excerpt, suggest
from tacfn.core.hashing import digest
from tacfn_robust.protocols.checks import CheckFailed, check_protocol, static_description
from tacfn_robust.protocols.schema import Protocol, declared_dump


def shipped_protocols() -> dict[str, str]:
    """Names of the protocols shipped with the package -> their descriptions."""
    found = {}
    for entry in sorted(resources.files("tacfn_robust.protocols").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8")) or {}
            found[entry.name[: -len(".yaml")]] = str(data.get("description", ""))
    return found


MAX_BYTES = 256 * 1024  # a protocol file; the largest shipped one is a few kB
MAX_NODES = 20_000  # YAML nodes after expanding aliases (an alias bomb expands exponentially)
MAX_DEPTH = 32  # nesting of mappings and lists


class _ProtocolLoader(yaml.SafeLoader):
    """safe_load that rejects duplicate keys and nesting deeper than MAX_DEPTH."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nesting deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base class reports it
                break
            if duplicate:
                line = key_node.start_mark.line + 1
                raise yaml.YAMLError(f"line {line}: duplicate key {excerpt(key)}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _plain_number(loader: _ProtocolLoader, node: yaml.ScalarNode, construct: Any) -> Any:
    """An int or float scalar, refusing YAML 1.1 forms that YAML 1.2 reads otherwise: octal
    with a leading 0 (010 is 8) and base 60 (1:00 is 60)."""
    text = str(node.value).replace("_", "").lstrip("+-")
    if ":" in text:
        problem = "a YAML 1.1 base-60 number"
    elif re.fullmatch(r"0[0-7]+", text) and int(text, 8) != int(text):
        problem = "a YAML 1.1 octal number"
    else:
        return construct(loader, node)
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"{excerpt(node.value)} is {problem} (it reads as {construct(loader, node)!r}); "
        "expected a decimal number, or quotes for text",
        node.start_mark,
    )


_ProtocolLoader.add_constructor(
    "tag:yaml.org,2002:int",
    lambda loader, node: _plain_number(loader, node, yaml.SafeLoader.construct_yaml_int),
)
_ProtocolLoader.add_constructor(
    "tag:yaml.org,2002:float",
    lambda loader, node: _plain_number(loader, node, yaml.SafeLoader.construct_yaml_float),
)

# YAML 1.2 floats without a dot (1e-3), which YAML 1.1 reads as strings: with strict types a
# learning rate written 1e-3 would otherwise be refused as a string.
_ProtocolLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (stops past MAX_NODES)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, active: frozenset[int]) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise yaml.YAMLError("an alias refers to a node that contains it (recursive YAML)")
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total = min(total + size(child, active | {id(node)}), MAX_NODES + 1)
        sizes[id(node)] = total
        return total

    return size(root, frozenset())


def load_yaml(text: str) -> Any:
    """Safe YAML with limits: no duplicate keys, at most MAX_DEPTH nesting and MAX_NODES nodes
    once aliases are expanded. Violations raise yaml.YAMLError."""
    loader = _ProtocolLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node) > MAX_NODES:
            raise yaml.YAMLError(
                f"more than {MAX_NODES} values once aliases are expanded (alias bomb?)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _read_protocol_file(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(
            f"{path}: {size} bytes; expected a protocol file of at most {MAX_BYTES} bytes"
        )
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); expected a YAML file"
        ) from None


def protocol_text(source: str | Path) -> tuple[str, str]:
    """(origin, YAML text) of a protocol given as a path or the name of a shipped protocol."""
    path = Path(source)
    if path.is_file():
        return str(path), _read_protocol_file(path)
    shipped = resources.files("tacfn_robust.protocols") / f"{source}.yaml"
    if "/" not in str(source) and shipped.is_file():
        return f"{source}.yaml", shipped.read_text(encoding="utf-8")
    names = list(shipped_protocols())
    raise ConfigError(
        f"{_clip(str(source))}: no such protocol file or shipped protocol; expected a YAML path "
        f"or one of: {', '.join(names)}{suggest(str(source), names)}"
    )


def parse_yaml(origin: str, text: str) -> dict[str, Any]:
    """The YAML mapping of a protocol file; one-line error for a syntax problem or a limit."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{origin}: {where}invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{origin}: invalid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: expected a mapping of protocol fields, got {type(data).__name__}"
        )
    return data


def _yaml_path(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as a YAML path like train.regimes.clean[0].corruption."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("Sweep", "JointSweep", "function-after[_consistent(), Sweep]"):
            continue
        elif isinstance(part, str) and part.startswith(("function-", "list[", "dict[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The field names valid at the parent of an error location (for unknown-key errors)."""
    from tacfn_robust.protocols import schema

    model: Any = Protocol
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        if part in ("Sweep", "JointSweep"):
            model = getattr(schema, part)
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            continue
        model = _inner_model(field.annotation)
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _inner_model(annotation: Any) -> Any:
    """The pydantic model inside an annotation such as list[Sweep] or DatasetSpec | None."""
    from typing import get_args

    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _one_line(error: dict[str, Any]) -> str:
    """One pydantic error as `path: problem; expected ...`."""
    loc = tuple(error["loc"])
    path = _yaml_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc)
        return (
            f"{path}: unknown key {loc[-1]!r}; expected one of: {', '.join(allowed)}"
            f"{suggest(str(loc[-1]), allowed)}"
        )
    if kind == "missing":
        return f"{path}: missing required field"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return f"{path}: {message}" if path else message
    return f"{path}: {message}; got {excerpt(error.get('input'))}"


def _first_error(data: dict[str, Any]) -> tuple[Protocol | None, str, str]:
    """(protocol, "", "") when valid (schema and every check that needs no loaded data and
    imports no module the protocol names), else (None, yaml path, one-line problem)."""
    try:
        protocol = Protocol.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return None, _yaml_path(tuple(errors[0]["loc"])), _one_line(errors[0]) + more
    try:
        check_protocol(protocol, static_description(protocol, imports=False), imports=False)
    except CheckFailed as exc:
        return None, exc.path, str(exc)
    return protocol, "", ""


def validate(data: dict[str, Any], origin: str = "<dict>") -> Protocol:
    """The validated Protocol of a mapping (e.g. built in Python); a ConfigError of one line
    names `origin` and the field, as for a file."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{origin}: expected a mapping of protocol fields, got {type(data).__name__}"
        )
    protocol, _, problem = _first_error(data)
    if protocol is None:
        raise ConfigError(f"{origin}: {problem}")
    return protocol


def _clip(text: str, limit: int = 60) -> str:
    """`text` itself when short, else its first characters and a count of the rest."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more chars)"


def apply_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """A copy of `data` with one `KEY=VALUE` override set (dotted KEY, VALUE parsed as YAML)."""
    if "=" not in assignment:
        raise ConfigError(
            f"--set {_clip(assignment)}: expected KEY=VALUE, e.g. --set train.epochs=5"
        )
    key, raw = assignment.split("=", 1)
    if len(key) > 200:
        raise ConfigError(f"--set {excerpt(key)}=...: field path too long")
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {_clip(assignment)}: empty field name in {excerpt(key)}")
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"--set {key}=...: {len(raw)} characters; expected at most {MAX_BYTES}")
    try:
        value = load_yaml(raw)
    except yaml.constructor.ConstructorError as exc:
        raise ConfigError(f"--set {_clip(assignment)}: {exc.problem}") from None
    except (yaml.YAMLError, RecursionError):
        raise ConfigError(f"--set {_clip(assignment)}: value is not valid YAML") from None
    out = copy.deepcopy(data)
    node: Any = out
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        if not isinstance(node, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {_clip(assignment)}: {where} is not a mapping")
        node = node.setdefault(part, {})
        if node is None:
            node = {}
    last = parts[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {_clip(assignment)}: {'.'.join(parts[:-1])} is not a mapping")
    return out


def load_protocol(source: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Protocol:
    """Read, override (--set) and validate a protocol given as a path or a shipped name.

    The file must be valid alone; an error after the overrides names the override whose key
    leads to the failing field (or all of them when none does).
    """
    origin, text = protocol_text(source)
    data = parse_yaml(origin, text)
    validate(data, origin)
    for assignment in overrides:
        data = apply_override(data, assignment)
    protocol, path, problem = _first_error(data)
    if protocol is not None:
        return protocol
    keys = {a: a.split("=", 1)[0].strip() for a in overrides}
    blamed = [a for a, k in keys.items() if path and (path + ".").startswith(k + ".")]
    blamed = blamed or [a for a, k in keys.items() if k.split(".")[0] in problem] or list(keys)
    named = " ".join(f"--set {_clip(a)}" for a in blamed)
    raise ConfigError(f"{origin} with {named}: {problem}")


def protocol_hash(protocol: Protocol) -> str:
    """Stable hash of every field declared to affect anything
    (tacfn_robust.protocols.schema.Affects)."""
    return digest(declared_dump(protocol, {"training", "predictions", "protocol"}), length=64)
