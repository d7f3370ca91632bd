"""A corruption's options as a pydantic model, with one-line errors and descriptions in words.

A corruption declares `class Options(CorruptionOptions)` with typed fields; the field types
below (Integer, Number, Flag, TensorOrNumber, Box, Folder, or a Literal of names) say what an
option accepts, and `expected(field)` says it in words for errors and `corruptions NAME`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import torch
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from tacfn.core.errors import ConfigError


@dataclass(frozen=True)
class Expect:
    """Field metadata: what an option of a custom type accepts, in words."""

    text: str


def invalid(expected: str = "") -> PydanticCustomError:
    """The error an option validator raises: what was expected instead, when it says more
    than the field's `expected(field)` (empty: that says it)."""
    return PydanticCustomError("corruption_option", "{expected}", {"expected": expected})


class CorruptionOptions(BaseModel):
    """Base of every corruption's options: unknown keys rejected, values validated as given."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoOptions(CorruptionOptions):
    """A corruption without options besides its severity parameter."""


def _real(integer: bool) -> Callable[[Any], float | int]:
    def check(value: Any) -> float | int:
        kind = Integral if integer else Real
        if isinstance(value, bool) or not isinstance(value, kind):
            raise invalid()
        return int(value) if integer else float(value)

    return check


Integer = Annotated[int, BeforeValidator(_real(True))]
"""An integer (no bool, no float); bound it with Field(ge=, le=)."""

Number = Annotated[float, BeforeValidator(_real(False))]
"""A real number (no bool, no text); bound it with Field(ge=, le=)."""


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise invalid()
    return value


Flag = Annotated[bool, PlainValidator(_flag), Expect("true or false")]


def _tensor_or_number(value: Any) -> torch.Tensor | float | None:
    if value is None or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value)
    raise invalid()


TensorOrNumber = Annotated[
    torch.Tensor | float | None,
    PlainValidator(_tensor_or_number),
    Expect("a number or a tensor shaped like one sample"),
]


def _box(value: Any) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        top, left, bottom, right = (float(v) for v in value)
    except (TypeError, ValueError):
        raise invalid("(top, left, bottom, right) fractions") from None
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise invalid("0 <= top < bottom <= 1 and 0 <= left < right <= 1")
    return top, left, bottom, right


Box = Annotated[
    tuple[float, float, float, float] | None,
    PlainValidator(_box),
    Expect("(top, left, bottom, right) fractions of the frame"),
]


def _folder(value: Any) -> Path:
    if not isinstance(value, str | Path):
        raise invalid("a folder path")
    if not Path(value).is_dir():
        raise invalid()
    return Path(value)


Folder = Annotated[Path, PlainValidator(_folder), Expect("an existing folder of .wav files")]


def expected(field: FieldInfo) -> str:
    """What `field` accepts, in words: "one of: pink, brown", "an integer in [1, 16]", ..."""
    marks = [m for m in field.metadata if isinstance(m, Expect)]
    if marks:
        return marks[0].text
    if get_origin(field.annotation) is Literal:
        return "one of: " + ", ".join(map(str, get_args(field.annotation)))
    what = "an integer" if field.annotation is int else "a number"
    lo = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)  # Field(ge=)
    hi = next((m.le for m in field.metadata if hasattr(m, "le")), None)  # Field(le=)
    if lo is not None and hi is not None:
        return f"{what} in [{lo:g}, {hi:g}]"
    return what


def validate_options(
    corruption: str, model: type[CorruptionOptions], given: dict[str, Any]
) -> CorruptionOptions:
    """`model` validated from `given`; the first error as one ConfigError line."""
    try:
        return model(**given)
    except ValidationError as exc:
        raise option_error(corruption, model, exc.errors()[0]) from None


def option_error(
    corruption: str, model: type[CorruptionOptions], error: dict[str, Any]
) -> ConfigError:
    """One line naming the corruption, option and value and what was expected."""
    if not error["loc"]:  # a check across options (model validator): its message is the line
        return ConfigError(f"{corruption}: {error['msg']}")
    option = str(error["loc"][0])
    field = model.model_fields[option]
    if error["type"] == "missing":
        return ConfigError(f"{corruption}: {option} is required; expected {expected(field)}")
    message = error["msg"] if error["type"] == "corruption_option" and error["msg"] else None
    value = error["input"]
    shown = str(value) if isinstance(value, Path) else value
    return ConfigError(
        f"{corruption}: {option}={shown!r} is invalid; expected {message or expected(field)}"
    )


def describe_options(model: type[CorruptionOptions]) -> dict[str, dict[str, Any]]:
    """Option -> {default, required, expected, help}, as `describe(name)` lists them."""
    return {
        name: {
            "default": None if field.is_required() else field.default,
            "required": field.is_required(),
            "expected": expected(field),
            "help": field.description or "",
        }
        for name, field in model.model_fields.items()
    }
