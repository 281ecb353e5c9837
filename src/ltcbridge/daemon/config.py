"""The daemon's one configuration file (TOML), checked in full at start by a strict schema.

Every table is a strict pydantic model (``ltcbridge.config_schema``): no unknown key or table (a
typo gets the nearest name), no value of the wrong type (an ODS code must be text, a transport
one of the known ones). Every mistake is reported at once, each naming the section and key to fix,
because the person reading it is practice IT, not a programmer. Relative paths are relative to
the config file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ltcbridge.config_schema import (
    ExistingDir,
    ExistingFile,
    FileSchema,
    LocalPath,
    OdsCode,
    StrictTable,
    Text,
    problem_lines,
)
from ltcbridge.daemon.feed_config import FeedConfig, FeedTable, feed_config
from ltcbridge.daemon.secrets import Secret, secret_setting
from ltcbridge.errors import LtcbridgeError
from ltcbridge.fhirclient.auth import SMART_ALGS, SmartAlg

AuthKind = Literal["none", "bearer", "basic", "smart", "nhs-signed-jwt"]
LogLevel = Literal["debug", "info", "warning", "error"]
GpMode = Literal["rest", "bulk"]
AUTH_KINDS: tuple[str, ...] = get_args(AuthKind)
LOG_LEVELS: tuple[str, ...] = get_args(LogLevel)
GP_MODES: tuple[str, ...] = get_args(GpMode)
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# What each kind of authentication cannot do without; the secrets among them are read from a
# file (KEY_file) or the environment (KEY = "env:NAME"), never written in the file.
AUTH_NEEDS: dict[str, tuple[str, ...]] = {
    "none": (),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "smart": ("client_id", "private_key", "kid"),
    "nhs-signed-jwt": ("api_key", "private_key", "kid", "token_url"),
}
SECRETS = ("token", "password", "api_key", "private_key")


class ConfigError(LtcbridgeError):
    """The configuration file cannot be used; the message lists every key to fix."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in {path}:\n{problem_lines(problems)}\n"
            "Fix them and run `ltcbridge check --config FILE` again."
        )


@dataclass(frozen=True)
class AuthConfig:
    """How to authenticate to one FHIR endpoint; secrets stay masked."""

    kind: str = "none"
    token: Secret | None = None
    username: str | None = None
    password: Secret | None = None
    client_id: str | None = None
    api_key: Secret | None = None
    private_key: Secret | None = None
    kid: str | None = None
    alg: SmartAlg = "RS384"
    scope: str = "system/*.read"
    token_url: str | None = None


@dataclass(frozen=True)
class EndpointConfig:
    """A FHIR R4 endpoint: the GP record, or a provider."""

    name: str
    base_url: str
    auth: AuthConfig
    ods: str | None = None
    agreement: str | None = None  # id of the sharing agreement referrals go under
    verify: bool = True
    ca_bundle: Path | None = None


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs, validated."""

    path: Path
    practice_ods: str
    gp: EndpointConfig
    providers: tuple[EndpointConfig, ...]
    mappings_dirs: tuple[Path, ...]
    agreements: dict[str, Path]  # agreement id -> file
    state_path: Path
    health_path: Path
    every_seconds: int
    feed: FeedConfig = field(default_factory=FeedConfig)  # [feed]: daemon/feed_config.py
    log_level: str = "info"
    log_json: bool = False
    batch_size: int = 500
    gp_mode: str = "rest"  # rest: incremental search per type; bulk: $export with _since
    directory: EndpointConfig | None = None  # the provider directory that routes referrals
    practice_locality: str | None = None

    @property
    def lead_provider(self) -> EndpointConfig:
        """Where referrals go when no directory is configured: the first provider."""
        return self.providers[0]


@dataclass(frozen=True)
class Endpoints:
    """The endpoints of a checked file, with their secrets read."""

    gp: EndpointConfig
    directory: EndpointConfig | None
    providers: tuple[EndpointConfig, ...]


def parse_duration(text: str) -> int:
    """``"15m"`` -> 900 seconds; raises ValueError naming the accepted forms."""
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as '30s', '15m', '1h' or '1d'")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _duration_text(value: Any) -> int:
    """A duration is written as text (``every = 15`` would leave the unit to guesswork)."""
    if not isinstance(value, str):
        raise ValueError(f'must be a duration in double quotes, e.g. "15m" (found {value!r:.60})')
    return parse_duration(value)


def _http_url(value: str) -> str:
    """An endpoint is a URL: a bare host name would fail at the first cycle, not at check."""
    if not value.startswith(("http://", "https://")):
        raise ValueError(
            f"{value!r} is not a URL: give the FHIR R4 base URL, e.g. "
            "https://fhir.example.nhs.uk/R4"
        )
    return value


def _lower(value: Any) -> Any:
    """Levels are read in any case (``INFO`` is what people write after years of log files)."""
    return value.lower() if isinstance(value, str) else value


Duration = Annotated[int, BeforeValidator(_duration_text)]  # seconds
FhirUrl = Annotated[Text, AfterValidator(_http_url)]


# -- the schema: one strict model per table -------------------------------------------------------
# The descriptions of required keys finish the "is required" message.
class AuthTable(StrictTable):
    """``[gp.auth]``, ``[provider.auth]``, ``[directory.auth]``: which keys are needed depends on
    ``type`` (AUTH_NEEDS); a secret comes as KEY_file = "PATH" or KEY = "env:NAME"."""

    type: AuthKind = "none"
    token: Text | None = None
    token_file: LocalPath | None = None
    username: Text | None = None
    password: Text | None = None
    password_file: LocalPath | None = None
    client_id: Text | None = None
    api_key: Text | None = None
    api_key_file: LocalPath | None = None
    private_key: Text | None = None
    private_key_file: LocalPath | None = None
    kid: Text | None = None
    # type "smart": RS384 (the default) or ES384; "nhs-signed-jwt": always RS512
    alg: Text | None = None
    scope: Text = "system/*.read"
    token_url: Text | None = None

    @field_validator("alg")
    @classmethod
    def _alg_of_the_type(cls, alg: str | None, info: ValidationInfo) -> str | None:
        """Each type signs with its own algorithms; an ``alg`` the type never uses is refused
        rather than ignored, as it says the file was written for another type."""
        kind = info.data.get("type")
        allowed = {"smart": SMART_ALGS, "nhs-signed-jwt": ("RS512",)}.get(str(kind), ())
        if alg is None or alg in allowed:
            return alg
        if not allowed:
            raise ValueError(f"type {kind!r} signs nothing: leave alg out")
        raise ValueError(f"must be {' or '.join(map(repr, allowed))} (found {alg!r})")

    @model_validator(mode="after")
    def _what_the_type_needs(self) -> Self:
        """Every key the chosen type needs and the file lacks, named in one message."""
        missing = [_setting(key) for key in AUTH_NEEDS[self.type] if not self._given(key)]
        if missing:
            raise ValueError(f"type {self.type!r} needs {'; '.join(missing)}")
        return self

    def _given(self, key: str) -> bool:
        return getattr(self, key) is not None or getattr(self, f"{key}_file", None) is not None


def _setting(key: str) -> str:
    """How the file gives ``key``: a secret by file or environment, anything else as text."""
    return f'{key}_file = "PATH" or {key} = "env:NAME"' if key in SECRETS else key


class EndpointTable(StrictTable):
    """A FHIR R4 endpoint: ``[directory]``, and what ``[gp]`` and ``[[provider]]`` share."""

    base_url: FhirUrl = Field(
        description="the FHIR R4 base URL, e.g. https://fhir.example.nhs.uk/R4"
    )
    auth: AuthTable = Field(default_factory=AuthTable)
    verify: bool = True
    ca_bundle: ExistingFile | None = None


class GpTable(EndpointTable):
    mode: GpMode = "rest"  # rest: incremental search per type; bulk: $export with _since


class ProviderTable(EndpointTable):
    name: Text = Field(description='a name for the provider in quotes, e.g. "lead"')
    ods: OdsCode = Field(description='the provider\'s ODS code in quotes, e.g. "NTP001"')
    agreement: Text | None = None  # the id of a file in [agreements] files


class PracticeTable(StrictTable):
    ods: OdsCode = Field(description='the practice\'s ODS code in quotes, e.g. "Y00001"')
    locality: Text | None = None


class MappingsTable(StrictTable):
    dirs: list[ExistingDir] = Field(default_factory=list)


class AgreementsTable(StrictTable):
    files: list[ExistingFile] = Field(default_factory=list)


class StateTable(StrictTable):
    path: LocalPath = Field("state/ltcbridge.db", validate_default=True)
    health_file: LocalPath | None = None  # None: health.json beside the state
    batch_size: int = Field(500, ge=1)


class ScheduleTable(StrictTable):
    every: Duration = Field("15m", validate_default=True)


class LogTable(StrictTable):
    level: Annotated[LogLevel, BeforeValidator(_lower)] = "info"
    # "json" is a pydantic method's name: the key is read into json_lines
    json_lines: bool = Field(False, alias="json")


SCHEMA = FileSchema(
    {
        "practice": PracticeTable,
        "gp": GpTable,
        "provider": ProviderTable,
        "directory": EndpointTable,
        "mappings": MappingsTable,
        "agreements": AgreementsTable,
        "state": StateTable,
        "schedule": ScheduleTable,
        "feed": FeedTable,
        "log": LogTable,
    },
    optional=frozenset({"directory", "feed"}),
    arrays=frozenset({"provider"}),
    hidden=frozenset(SECRETS),
)


# -- reading --------------------------------------------------------------------------------------
def load_config(path: Path | str) -> Config:
    """Read and check the file; raises ConfigError listing every problem found."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, ["the file does not exist: run `ltcbridge init DIR`"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    tables, problems = SCHEMA.check(data, base=path.parent)
    if not data.get("provider"):
        problems.append(
            "[[provider]]: no provider configured; add at least the lead provider with "
            "name, ods and base_url"
        )
    agreements = _agreement_ids(tables.get("agreements"), problems)
    problems += _unknown_agreements(tables.get("provider", []), agreements)
    gp = _endpoint("gp", "[gp]", tables.get("gp"), problems)
    directory = _endpoint("directory", "[directory]", tables.get("directory"), problems)
    providers = [
        _endpoint(table.name, f"[[provider]] {table.name}", table, problems)
        for table in tables.get("provider", [])
    ]
    feed = feed_config(tables.get("feed"), problems)
    if problems or gp is None:
        raise ConfigError(path, problems)
    endpoints = Endpoints(gp, directory, tuple(p for p in providers if p is not None))
    return _config(path, tables, endpoints, agreements, feed)


def _agreement_ids(table: AgreementsTable | None, problems: list[str]) -> dict[str, Path]:
    """Agreement id -> file, for each file in [agreements] files (each named by its id)."""
    found: dict[str, Path] = {}
    for file in table.files if table else []:
        try:
            agreement_id = tomllib.loads(file.read_text(encoding="utf-8"))["agreement"]["id"]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError):
            problems.append(f"[agreements] files: {file} has no [agreement] id")
            continue
        found[str(agreement_id)] = file
    return found


def _unknown_agreements(providers: list[ProviderTable], agreements: dict[str, Path]) -> list[str]:
    """A provider's agreement must be one of the files: it is what the audit log records."""
    return [
        f"[[provider]] {provider.name}: agreement {provider.agreement!r} is not the id of any "
        f"file in [agreements] files (ids found: {sorted(agreements)})"
        for provider in providers
        if provider.agreement and provider.agreement not in agreements
    ]


def _auth(table: AuthTable, where: str, problems: list[str]) -> AuthConfig:
    """The authentication the type asks for, its secrets read (only those it needs)."""
    secrets = {
        key: secret_setting(getattr(table, f"{key}_file"), getattr(table, key), f"{where}.{key}",
                            problems)
        for key in SECRETS if key in AUTH_NEEDS[table.type]
    }  # fmt: skip
    return AuthConfig(
        kind=table.type,
        username=table.username,
        client_id=table.client_id,
        kid=table.kid,
        alg="ES384" if table.alg == "ES384" else "RS384",  # what smart signs with
        scope=table.scope,
        token_url=table.token_url,
        **secrets,
    )


def _endpoint(
    name: str, where: str, table: EndpointTable | None, problems: list[str]
) -> EndpointConfig | None:
    """The endpoint a table that passed describes, its secrets read (a secret that cannot be
    read is added to ``problems``); None for no table (absent, or its problems reported)."""
    if table is None:
        return None
    return EndpointConfig(
        name=name,
        base_url=table.base_url,
        auth=_auth(table.auth, f"{where} auth", problems),
        ods=getattr(table, "ods", None),
        agreement=getattr(table, "agreement", None),
        verify=table.verify,
        ca_bundle=table.ca_bundle,
    )


def _config(
    path: Path,
    tables: dict[str, Any],
    endpoints: Endpoints,
    agreements: dict[str, Path],
    feed: FeedConfig,
) -> Config:
    """The Config the checked tables describe (called only when there is no problem)."""
    practice, gp, state = tables["practice"], tables["gp"], tables["state"]
    log = tables["log"]
    return Config(
        path=path,
        practice_ods=practice.ods,
        gp=endpoints.gp,
        providers=endpoints.providers,
        mappings_dirs=tuple(tables["mappings"].dirs),
        agreements=agreements,
        state_path=state.path,
        health_path=state.health_file or state.path.with_name("health.json"),
        every_seconds=tables["schedule"].every,
        feed=feed,
        log_level=log.level,
        log_json=log.json_lines,
        batch_size=state.batch_size,
        gp_mode=gp.mode,
        directory=endpoints.directory,
        practice_locality=practice.locality,
    )
