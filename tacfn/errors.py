"""User-facing errors: one line that names the file, field or value and what was expected."""

import difflib


class UserError(Exception):
    """Bad input from the user; the CLI prints it as one line and exits with code 2."""


class ConfigError(UserError):
    """A protocol, override or option is invalid."""


class DataError(UserError):
    """A data file is missing, corrupt or of the wrong shape."""


class Interrupted(UserError):
    """Ctrl-C stopped a command; the message says what was saved and how to resume (exit 130)."""

    exit_code = 130


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> UserError:
    """Error for an unknown registry name: the valid names and the closest one ("did you mean")."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    names = ", ".join(sorted(valid))
    return ConfigError(f"unknown {kind} {name!r}; expected one of: {names}{hint}")


def excerpt(value: object, limit: int = 60) -> str:
    """repr(value) cut to at most `limit` characters, so an error line stays one short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"
