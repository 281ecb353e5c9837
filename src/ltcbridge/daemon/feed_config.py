"""The daemon's ``[feed]`` section: how its monthly releases leave the practice, checked strictly.

Like the rest of the configuration, every mistake is collected and reported at once, naming the
key: an unknown key (a typo), a transport missing its settings, a folder that does not exist (a
mistyped drop folder must be refused, never created), a recipient key file that is missing.
Without a ``[feed]`` section the daemon prepares and sends no release.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcbridge.daemon.secrets import Secret, SecretError, secret_from_file, secret_from_value

TRANSPORTS = ("mesh", "https", "folder")
DEFAULT_GRACE_DAYS = 5
DEFAULT_SIGNING_KEY = "keys/private-key.pem"  # what `ltcbridge init` writes beside the config
_ODS_LENGTH = range(3, 11)
KEYS = (
    "transport", "folder", "url", "token", "token_file", "mesh_url", "mailbox", "mesh_to",
    "workflow_id", "mesh_ca", "mesh_cert", "mesh_cert_key", "recipient_keys", "signing_key",
    "grace_days",
)  # fmt: skip
_NEEDS = {"folder": ("folder",), "https": ("url",), "mesh": ("mesh_url", "mailbox", "mesh_to")}


@dataclass(frozen=True)
class FeedConfig:
    """The way out for the daemon's releases (``transport`` None: the feed is not configured)."""

    transport: str | None = None
    folder: Path | None = None
    url: str | None = None
    token: Secret | None = None
    mesh_url: str | None = None
    mailbox: str | None = None
    mesh_to: str | None = None
    workflow_id: str | None = None
    mesh_ca: Path | None = None
    mesh_cert: Path | None = None
    mesh_cert_key: Path | None = None
    recipient_keys: dict[str, Path] = field(default_factory=dict)
    signing_key: Path | None = None
    grace_days: int = DEFAULT_GRACE_DAYS

    @property
    def configured(self) -> bool:
        return self.transport is not None

    def mesh_mapping(self) -> dict[str, Any]:
        """The MESH settings as `ltcbridge check`'s handshake reads them."""
        return {"transport": self.transport, "mesh_url": self.mesh_url, "mailbox": self.mailbox}


def parse_feed(
    table: dict[str, Any], resolve: Callable[[Any], Path], problems: list[str]
) -> FeedConfig:
    """The ``[feed]`` table checked; each problem is appended to ``problems``."""
    if not table:
        return FeedConfig()
    for key in table:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"[feed] {key}: not a [feed] key{hint}; the keys are {', '.join(KEYS)}")
    transport = table.get("transport")
    if transport is None:
        problems.append(f"[feed] transport: missing; give one of {', '.join(TRANSPORTS)}")
    elif transport not in TRANSPORTS:
        problems.append(f"[feed] transport: {transport!r} is not one of {', '.join(TRANSPORTS)}")
        transport = None
    text = {k: table[k] for k in ("url", "mesh_url", "mailbox", "mesh_to", "workflow_id")
            if k in table}  # fmt: skip
    for key, value in text.items():
        if not isinstance(value, str) or not value:
            problems.append(f"[feed] {key}: give it as text in quotes")
    for key in _NEEDS.get(transport or "", ()):
        if not table.get(key):
            problems.append(f"[feed] {key}: transport {transport!r} needs it")
    folder = _folder(table, resolve, problems) if transport == "folder" else None
    if transport == "https" and str(table.get("url", "")).startswith("http://"):
        problems.append("[feed] url: give an https:// address (releases never travel in clear)")
    return FeedConfig(
        transport=transport,
        folder=folder,
        url=_text(text.get("url")),
        token=_token(table, resolve, problems),
        mesh_url=_text(text.get("mesh_url")),
        mailbox=_text(text.get("mailbox")),
        mesh_to=_text(text.get("mesh_to")),
        workflow_id=_text(text.get("workflow_id")),
        mesh_ca=_file(table, "mesh_ca", resolve, problems),
        mesh_cert=_file(table, "mesh_cert", resolve, problems),
        mesh_cert_key=_file(table, "mesh_cert_key", resolve, problems),
        recipient_keys=_recipient_keys(table.get("recipient_keys", {}), resolve, problems),
        signing_key=_signing_key(table, resolve, problems),
        grace_days=_grace_days(table.get("grace_days", DEFAULT_GRACE_DAYS), problems),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _folder(table: dict[str, Any], resolve: Callable[[Any], Path], problems: list[str]) -> Path:
    """The drop folder must exist already: a mistyped one is refused, never created."""
    folder = resolve(table.get("folder", ""))
    if table.get("folder") and not folder.is_dir():
        problems.append(
            f"[feed] folder: {folder} does not exist (or is not a directory); give the folder the "
            "commissioner collects from, exactly: ltcbridge never creates it"
        )
    return folder


def _file(
    table: dict[str, Any], key: str, resolve: Callable[[Any], Path], problems: list[str]
) -> Path | None:
    if key not in table:
        return None
    path = resolve(table[key])
    if not path.is_file():
        problems.append(f"[feed] {key}: the file {path} does not exist")
    return path


def _token(
    table: dict[str, Any], resolve: Callable[[Any], Path], problems: list[str]
) -> Secret | None:
    """The HTTPS bearer token, as every daemon secret: token_file = PATH or token = "env:NAME"."""
    try:
        if "token_file" in table:
            return secret_from_file(resolve(table["token_file"]), "[feed] token_file")
        if "token" in table:
            return secret_from_value(str(table["token"]), "[feed] token")
    except SecretError as exc:
        problems.append(str(exc))
    return None


def _recipient_keys(
    value: Any, resolve: Callable[[Any], Path], problems: list[str]
) -> dict[str, Path]:
    if not isinstance(value, dict):
        problems.append('[feed] recipient_keys: give a table, e.g. {QHM = "keys/QHM.pem"}')
        return {}
    keys: dict[str, Path] = {}
    for ods, path_text in value.items():
        code = str(ods).upper()
        if not code.isalnum() or len(code) not in _ODS_LENGTH:
            problems.append(f"[feed] recipient_keys: {ods!r} is not an ODS code")
            continue
        path = resolve(path_text)
        if not path.is_file():
            problems.append(f"[feed] recipient_keys {ods}: the public key {path} does not exist")
            continue
        keys[code] = path
    return keys


def _signing_key(
    table: dict[str, Any], resolve: Callable[[Any], Path], problems: list[str]
) -> Path:
    path = resolve(table.get("signing_key", DEFAULT_SIGNING_KEY))
    if table.get("transport") and not path.is_file():
        problems.append(
            f"[feed] signing_key: the practice's private key {path} does not exist (default: the "
            "key `ltcbridge init` made in keys/)"
        )
    return path


def _grace_days(value: Any, problems: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 28:
        problems.append(f"[feed] grace_days: {value!r} must be a whole number from 0 to 28")
        return DEFAULT_GRACE_DAYS
    return value
