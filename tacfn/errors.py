"""User-facing errors: one line that names the file, field or value and what was expected."""


class UserError(Exception):
    """Bad input from the user; the CLI prints it as one line and exits with code 2."""


class ConfigError(UserError):
    """A protocol, override or option is invalid."""


class DataError(UserError):
    """A data file is missing, corrupt or of the wrong shape."""


def unknown_name(kind: str, name: str, valid: list[str] | tuple[str, ...]) -> UserError:
    """Error for an unknown registry name that lists the valid names."""
    return ConfigError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(valid))}")
