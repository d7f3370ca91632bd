"""User-facing errors: one line that names the file, field or value and what was expected."""

import difflib
import unicodedata


class UserError(Exception):
    """Bad input from the user; the CLI prints it as one line and exits with code 2."""


class ConfigError(UserError):
    """A protocol, override or option is invalid."""


class DataError(UserError):
    """A data file is missing, corrupt or of the wrong shape."""


class Interrupted(UserError):
    """Ctrl-C stopped a command; the message says what was saved and how to resume (exit 130)."""

    exit_code = 130


def suggest(name: object, valid: list[str] | tuple[str, ...]) -> str:
    """`; did you mean 'x'?` for the closest valid name, or an empty string."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_message(kind: str, name: object, valid: list[str] | tuple[str, ...]) -> str:
    """`unknown <kind> 'x'; expected one of: ...` with the closest valid name."""
    names = ", ".join(sorted(valid))
    return f"unknown {kind} {name!r}; expected one of: {names}{suggest(name, valid)}"


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> UserError:
    """Error for an unknown registry name: the valid names and the closest one ("did you mean")."""
    return ConfigError(unknown_message(kind, name, valid))


def excerpt(value: object, limit: int = 60) -> str:
    """repr(value) cut to at most `limit` characters, so an error line stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


def one_line(text: str) -> str:
    """`text` with every control character and line separator escaped (a newline as `\\n`), so
    a value or path inside an error message can never start a second line."""
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Zl", "Zp")
        else c
        for c in text
    )
