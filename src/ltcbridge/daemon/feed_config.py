"""The daemon's ``[feed]`` section: how its monthly releases leave the practice, checked strictly.

One table of the daemon configuration's strict schema (``ltcbridge.config_schema``): every mistake
is reported with the rest of the file's, naming the key: an unknown key (a typo, with the nearest
key), a transport missing its settings, a folder that does not exist (a mistyped drop folder must be
refused, never created), a recipient key file that is missing. Without a ``[feed]`` section the
daemon prepares and sends no release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator

from ltcbridge.config_schema import ExistingFile, LocalPath, OdsCode, StrictTable, Text
from ltcbridge.daemon.secrets import Secret, secret_setting

Transport = Literal["mesh", "https", "folder"]
TRANSPORTS: tuple[str, ...] = get_args(Transport)
DEFAULT_GRACE_DAYS = 5
DEFAULT_SIGNING_KEY = "keys/private-key.pem"  # what `ltcbridge init` writes beside the config
# The settings each transport cannot do without.
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


class FeedTable(StrictTable):
    """``[feed]`` as written. The transport comes first: the later keys are checked against it."""

    transport: Transport = Field(description="how releases leave: mesh, https or folder")
    folder: LocalPath | None = Field(None, validate_default=True)
    url: Text | None = Field(None, validate_default=True)
    token: Text | None = None
    token_file: LocalPath | None = None
    mesh_url: Text | None = Field(None, validate_default=True)
    mailbox: Text | None = Field(None, validate_default=True)
    mesh_to: Text | None = Field(None, validate_default=True)
    workflow_id: Text | None = None
    mesh_ca: ExistingFile | None = None
    mesh_cert: ExistingFile | None = None
    mesh_cert_key: ExistingFile | None = None
    # each agreement's recipient (ODS code) = its public key PEM
    recipient_keys: dict[OdsCode, ExistingFile] = Field(default_factory=dict)
    signing_key: LocalPath = Field(DEFAULT_SIGNING_KEY, validate_default=True)
    grace_days: int = Field(DEFAULT_GRACE_DAYS, ge=0, le=28)

    @field_validator("folder", "url", "mesh_url", "mailbox", "mesh_to")
    @classmethod
    def _needed_by_transport(cls, value: Any, info: ValidationInfo) -> Any:
        """Each setting the chosen transport needs is named on its own when missing."""
        transport = info.data.get("transport")
        if value is None and info.field_name in _NEEDS.get(transport or "", ()):
            raise ValueError(f"transport {transport!r} needs it")
        return value

    @field_validator("folder")
    @classmethod
    def _drop_folder_exists(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """A mistyped drop folder is refused, never created."""
        if info.data.get("transport") == "folder" and value is not None and not value.is_dir():
            raise ValueError(
                f"{value} does not exist (or is not a directory); give the folder the "
                "commissioner collects from, exactly: ltcbridge never creates it"
            )
        return value

    @field_validator("url")
    @classmethod
    def _https_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("transport") == "https" and value and not value.startswith("https://"):
            raise ValueError("give an https:// address (releases never travel in clear)")
        return value

    @field_validator("signing_key")
    @classmethod
    def _signing_key_exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(
                f"the practice's private key {value} does not exist (default: the key "
                "`ltcbridge init` made in keys/)"
            )
        return value


def feed_config(table: FeedTable | None, problems: list[str]) -> FeedConfig:
    """The checked ``[feed]`` table as the daemon uses it (None: no feed, or a ``[feed]`` whose
    problems are reported already); the token's problems are added to ``problems``."""
    if table is None:
        return FeedConfig()
    values = table.model_dump(exclude={"folder", "token", "token_file"})
    return FeedConfig(
        **values,
        folder=table.folder if table.transport == "folder" else None,
        token=secret_setting(table.token_file, table.token, "[feed] token", problems),
    )
