"""Secrets for the daemon's connections: read from a file or the environment, never shown.

A ``Secret`` masks itself in ``repr`` and ``str`` so that a config dump, a traceback or a log line
can never carry a token or password; code that needs the value asks for it by name (``reveal``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ltcbridge.errors import LtcbridgeError

ENV_PREFIX = "env:"


class SecretError(LtcbridgeError):
    """A secret could not be found where the configuration says it is."""


class Secret:
    """A value that must not be printed or logged."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself: only for handing to an auth class."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret_from_value(text: str, where: str) -> Secret:
    """``env:NAME`` reads the environment variable; anything else is refused as a literal.

    Literal secrets in the file are refused on purpose: config files get copied and mailed.
    """
    if not text.startswith(ENV_PREFIX):
        raise SecretError(
            f"{where}: write secrets as 'env:NAME' (read from an environment variable) or put "
            f"them in a file and use the key with '_file' instead; the value is not shown here"
        )
    name = text[len(ENV_PREFIX) :]
    value = os.environ.get(name)
    if not value:
        raise SecretError(f"{where}: the environment variable {name} is not set or empty")
    return Secret(value)


def secret_from_file(path: Path, where: str) -> Secret:
    """The file's content, stripped of the trailing newline editors add."""
    try:
        return Secret(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        raise SecretError(f"{where}: the file {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"{where}: cannot read {path} ({exc.strerror})") from None


def secret_setting(
    file: Path | None, value: str | None, where: str, problems: list[str]
) -> Secret | None:
    """A secret the configuration gives as ``KEY_file = "PATH"`` (which wins) or ``KEY =
    "env:NAME"``; None when neither is given, or when it cannot be read (the reason, naming
    ``where``, is added to ``problems`` so that every problem is reported at once)."""
    try:
        if file is not None:
            return secret_from_file(file, f"{where}_file")
        if value is not None:
            return secret_from_value(value, where)
    except SecretError as exc:
        problems.append(str(exc))
    return None
