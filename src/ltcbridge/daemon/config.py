"""The daemon's one configuration file (TOML), checked in full at start.

Every mistake is reported at once, each naming the section and key to fix, because the person
reading it is practice IT, not a programmer. Relative paths are relative to the config file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ltcbridge.daemon.feed_config import FeedConfig, parse_feed
from ltcbridge.daemon.secrets import Secret, SecretError, secret_from_file, secret_from_value
from ltcbridge.errors import LtcbridgeError

AUTH_KINDS = ("none", "bearer", "basic", "smart", "nhs-signed-jwt")
LOG_LEVELS = ("debug", "info", "warning", "error")
GP_MODES = ("rest", "bulk")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ODS = re.compile(r"^[A-Z0-9]{3,10}$")


class ConfigError(LtcbridgeError):
    """The configuration file cannot be used; the message lists every key to fix."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{len(problems)} problem(s) in {path}:\n{lines}\n"
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
    alg: str = "RS384"
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


def parse_duration(text: str) -> int:
    """``"15m"`` -> 900 seconds; raises ValueError naming the accepted forms."""
    match = _DURATION.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration such as '30s', '15m', '1h' or '1d'")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def load_config(path: Path | str) -> Config:
    """Read and check the file; raises ConfigError listing every problem found."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, ["the file does not exist: run `ltcbridge init DIR`"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    reader = _Reader(data, path.parent)
    config = reader.config(path)
    if reader.problems:
        raise ConfigError(path, reader.problems)
    assert config is not None
    return config


class _Reader:
    """Walks the TOML, collecting problems instead of stopping at the first."""

    def __init__(self, data: dict[str, Any], base: Path) -> None:
        self.data = data
        self.base = base
        self.problems: list[str] = []

    def config(self, path: Path) -> Config | None:
        practice = self._table(self.data, "practice")
        ods = self._ods(practice, "[practice] ods")
        gp = self._endpoint(self._table(self.data, "gp"), "[gp]", "gp", need_ods=False)
        directory = None
        if "directory" in self.data:
            directory = self._endpoint(
                self._table(self.data, "directory"), "[directory]", "directory", need_ods=False
            )
        providers = self._providers()
        agreements = self._agreements()
        for provider in providers:
            if provider.agreement and provider.agreement not in agreements:
                self.problems.append(
                    f"[[provider]] {provider.name}: agreement {provider.agreement!r} is not the "
                    f"id of any file in [agreements] files (ids found: {sorted(agreements)})"
                )
        state = self._table(self.data, "state")
        state_path = self._path(state, "path", "[state] path", default="state/ltcbridge.db")
        health = self._path(state, "health_file", "[state] health_file", default=None)
        schedule = self._table(self.data, "schedule")
        every = self._every(schedule)
        log = self._table(self.data, "log")
        level = str(log.get("level", "info")).lower()
        if level not in LOG_LEVELS:
            self.problems.append(f"[log] level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
        mappings = self._table(self.data, "mappings")
        dirs = tuple(self._existing(mappings.get("dirs", []), "[mappings] dirs", is_dir=True))
        batch_size = self._batch_size(state)
        feed = parse_feed(self._table(self.data, "feed"), self._resolve, self.problems)
        if self.problems or gp is None or ods is None or state_path is None:
            return None
        return Config(
            path=path,
            practice_ods=ods,
            gp=gp,
            providers=tuple(providers),
            mappings_dirs=dirs,
            agreements=agreements,
            state_path=state_path,
            health_path=health or state_path.with_name("health.json"),
            every_seconds=every,
            feed=feed,
            log_level=level,
            log_json=bool(log.get("json", False)),
            batch_size=batch_size,
            gp_mode=self._gp_mode(),
            directory=directory,
            practice_locality=practice.get("locality") or None,
        )

    # -- sections ------------------------------------------------------------------------------
    def _table(self, parent: dict[str, Any], name: str) -> dict[str, Any]:
        value = parent.get(name, {})
        if not isinstance(value, dict):
            self.problems.append(f"[{name}] must be a table (a [{name}] section)")
            return {}
        return value

    def _providers(self) -> list[EndpointConfig]:
        raw = self.data.get("provider")
        if not isinstance(raw, list) or not raw:
            self.problems.append(
                "[[provider]]: no provider configured; add at least the lead provider with "
                "name, ods and base_url"
            )
            return []
        found = []
        for i, table in enumerate(raw):
            if not isinstance(table, dict):
                self.problems.append(f"[[provider]] {i + 1}: must be a table ([[provider]])")
                continue
            name = str(table.get("name") or f"provider {i + 1}")
            endpoint = self._endpoint(table, f"[[provider]] {name}", name, need_ods=True)
            if endpoint is not None:
                found.append(endpoint)
        return found

    def _agreements(self) -> dict[str, Path]:
        files = self._table(self.data, "agreements").get("files", [])
        found: dict[str, Path] = {}
        for file in self._existing(files, "[agreements] files", is_dir=False):
            try:
                agreement_id = tomllib.loads(file.read_text(encoding="utf-8"))["agreement"]["id"]
            except (tomllib.TOMLDecodeError, KeyError, TypeError):
                self.problems.append(f"[agreements] files: {file} has no [agreement] id")
                continue
            found[str(agreement_id)] = file
        return found

    def _endpoint(
        self, table: dict[str, Any], where: str, name: str, *, need_ods: bool
    ) -> EndpointConfig | None:
        url = table.get("base_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            self.problems.append(
                f"{where} base_url: give the FHIR R4 base URL, e.g. https://fhir.example.nhs.uk/R4"
            )
            url = None
        ods = self._ods(table, f"{where} ods") if need_ods else None
        agreement = table.get("agreement")
        if agreement is not None and not isinstance(agreement, str):
            self.problems.append(f"{where} agreement: give the agreement's id as text")
            agreement = None
        auth = self._auth(table.get("auth", {}), where)
        ca = self._path(table, "ca_bundle", f"{where} ca_bundle", default=None)
        if url is None or auth is None or (need_ods and ods is None):
            return None
        return EndpointConfig(
            name=name,
            base_url=url,
            auth=auth,
            ods=ods,
            agreement=agreement,
            verify=bool(table.get("verify", True)),
            ca_bundle=ca,
        )

    def _auth(self, table: Any, where: str) -> AuthConfig | None:
        if not isinstance(table, dict):
            self.problems.append(f"{where} auth must be a table ([gp.auth] or auth = {{...}})")
            return None
        kind = str(table.get("type", "none"))
        if kind not in AUTH_KINDS:
            self.problems.append(f"{where} auth.type {kind!r}: use one of {', '.join(AUTH_KINDS)}")
            return None
        needs = {
            "none": (),
            "bearer": ("token",),
            "basic": ("username", "password"),
            "smart": ("client_id", "private_key", "kid"),
            "nhs-signed-jwt": ("api_key", "private_key", "kid", "token_url"),
        }[kind]
        values: dict[str, Any] = {"kind": kind}
        for key in needs:
            value = self._auth_value(table, key, f"{where} auth")
            if value is None:
                return None
            values[key] = value
        for key in ("alg", "scope", "token_url"):
            if key in table and key not in values:
                values[key] = str(table[key])
        return AuthConfig(**values)

    def _auth_value(self, table: dict[str, Any], key: str, where: str) -> Any:
        secret_keys = ("token", "password", "api_key", "private_key")
        if key not in secret_keys:
            if not table.get(key):
                self.problems.append(f"{where}.{key} is missing")
                return None
            return str(table[key])
        try:
            if f"{key}_file" in table:
                return secret_from_file(self._resolve(table[f"{key}_file"]), f"{where}.{key}_file")
            if key in table:
                return secret_from_value(str(table[key]), f"{where}.{key}")
        except SecretError as exc:
            self.problems.append(str(exc))
            return None
        self.problems.append(f'{where}: set {key}_file = "PATH" or {key} = "env:NAME"')
        return None

    # -- values --------------------------------------------------------------------------------
    def _ods(self, table: dict[str, Any], where: str) -> str | None:
        value = str(table.get("ods", "")).upper()
        if not _ODS.match(value):
            self.problems.append(f"{where}: give the organisation's ODS code (e.g. Y00001)")
            return None
        return value

    def _batch_size(self, state: dict[str, Any]) -> int:
        size = state.get("batch_size", 500)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            self.problems.append(f"[state] batch_size: {size!r} must be a whole number >= 1")
            return 500
        return size

    def _gp_mode(self) -> str:
        mode = str(self._table(self.data, "gp").get("mode", "rest"))
        if mode not in GP_MODES:
            self.problems.append(f"[gp] mode {mode!r}: use one of {', '.join(GP_MODES)}")
        return mode

    def _every(self, schedule: dict[str, Any]) -> int:
        try:
            return parse_duration(schedule.get("every", "15m"))
        except ValueError as exc:
            self.problems.append(f"[schedule] every: {exc}")
            return 900

    def _resolve(self, value: Any) -> Path:
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else (self.base / path).resolve()

    def _path(
        self, table: dict[str, Any], key: str, where: str, *, default: str | None
    ) -> Path | None:
        value = table.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.problems.append(f"{where}: give a file path")
            return None
        return self._resolve(value)

    def _existing(self, values: Any, where: str, *, is_dir: bool) -> list[Path]:
        if not isinstance(values, list):
            self.problems.append(f'{where}: give a list, e.g. ["mappings"]')
            return []
        found = []
        for value in values:
            path = self._resolve(value)
            exists = path.is_dir() if is_dir else path.is_file()
            if not exists:
                kind = "directory" if is_dir else "file"
                self.problems.append(f"{where}: the {kind} {path} does not exist")
            else:
                found.append(path)
        return found
