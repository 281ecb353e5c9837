"""``ltcbridge init``: a commented configuration a practice can fill in, and its keys."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path

from ltcbridge.daemon.keys import generate_key_pair
from ltcbridge.errors import LtcbridgeError

CONFIG_NAME = "ltcbridge.toml"

TEMPLATE = """\
# ltcbridge practice daemon configuration.
# Check it with:  ltcbridge check --config {config}
# Secrets are never written here: use  key_file = "PATH"  (a file only the service can read)
# or  key = "env:NAME"  (an environment variable). Relative paths are relative to this file.

[practice]
ods = "{ods}"                          # the practice's ODS code
# locality = "Dudley"                  # prefer providers of this locality (with a [directory])

[gp]
# The FHIR R4 endpoint that exposes the practice's record (supplier facade or shared care record).
base_url = "https://gp-fhir.example.nhs.uk/R4"
# mode = "rest"                       # rest: search by _lastUpdated; bulk: $export with _since
# verify = true                       # TLS verification: leave on
# ca_bundle = "ca.pem"                # a private certificate authority, if the endpoint uses one

[gp.auth]
type = "smart"                         # none | bearer | basic | smart | nhs-signed-jwt
client_id = "ltcbridge-{ods_lower}"    # as registered with the GP endpoint
private_key_file = "keys/private-key.pem"
kid = "ltcbridge-1"                    # the key id registered with keys/jwks.json
alg = "{alg}"                         # RS384 (an RSA key) or ES384 (an EC P-384 key)
# read the record; write back outcomes (Observation, Encounter, Task) with Provenance
scope = "system/*.read system/Observation.write system/Encounter.write system/Task.write \
system/Provenance.write"
# bearer:  token_file = "secrets/gp-token"      (or token = "env:LTCBRIDGE_GP_TOKEN")
# basic:   username = "..."  password_file = "secrets/gp-password"

[[provider]]
# The lead non-traditional provider of the locality. Add more [[provider]] blocks if needed:
# referrals go to the first one until provider routing is configured.
name = "lead"
ods = "NTP001"                         # the provider's ODS code
base_url = "https://provider-fhir.example.org/R4"
# agreement = "DSA-2026-014"           # id of the sharing agreement referrals go under
[provider.auth]
type = "bearer"
token_file = "secrets/provider-token"

[mappings]
dirs = []                              # e.g. ["mappings"]: the practice's ConceptMaps and templates

[agreements]
files = []                             # data-sharing agreement TOML files, e.g. ["dsa.toml"]

[state]
path = "state/ltcbridge.db"            # holds patient data: keep it on an encrypted disk
# health_file = "state/health.json"    # read by monitoring

[schedule]
every = "15m"                          # 30s, 15m, 1h, 1d

# [directory]
# The provider directory (HealthcareServices with need domains). With it, each referral goes to
# the configured provider that offers most of the person's needs; without it, to the first one.
# base_url = "https://directory.example/fhir"

# [feed]
# The monthly releases to the commissioner (`ltcbridge release list`). Without this section the
# daemon prepares and sends none. A release is prepared once a month has closed and grace_days
# have passed, and is sent only after a person approves it (`ltcbridge release approve`).
# transport = "mesh"                   # mesh | https | folder
# recipient_keys = {{ QHM = "keys/QHM-public.pem" }}  # each agreement's recipient: its public key
# signing_key = "keys/private-key.pem" # the default: the key `ltcbridge init` made
# grace_days = 5                       # days after the month closes, for late entries
# mesh: password and shared key come from the environment (MESH_PASSWORD, MESH_SHARED_KEY)
# mesh_url = "https://your-mesh-server.example"     # the MESH environment NHS England gave you
# mailbox = "X26ABC1"                  # this practice's mailbox
# mesh_to = "X26ABC2"                  # the commissioner's mailbox
# workflow_id = "LTCBRIDGE_FEED"
# https:   url = "https://hub.example.nhs.uk/releases"   token = "env:LTCBRIDGE_HUB_TOKEN"
# folder:  folder = "/mnt/commissioner-drop"   (must exist: it is never created)

[log]
level = "info"                         # debug | info | warning | error
json = false                           # true: one JSON object per line
"""


class InitError(LtcbridgeError):
    """``init`` would overwrite something, or could not write its files (nothing is left)."""


def write_initial_config(directory: Path, ods: str = "Y00000", key_type: str = "rsa") -> Path:
    """Write ``ltcbridge.toml`` and ``keys/`` whole or not at all; refuses to overwrite.

    Everything is written first into a hidden folder inside ``directory`` and moved into place
    only when complete: a half-written ``keys/`` would make the next ``init`` refuse to run,
    and a private key without its configuration (or the reverse) is of use to nobody.
    """
    config = directory / CONFIG_NAME
    if config.exists() or (directory / "keys" / "private-key.pem").exists():
        raise InitError(
            f"{directory} already has a configuration or keys: choose an empty directory, or "
            "move the old files away first (they may be in use by the service)"
        )
    made = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".ltcbridge-init.", dir=directory))
    except OSError as exc:
        raise InitError(
            f"cannot write in {directory} ({exc.strerror}): give a folder you can write"
        ) from None
    try:
        generate_key_pair(staging / "keys", key_type)
        alg = "ES384" if key_type == "ec" else "RS384"
        (staging / CONFIG_NAME).write_text(
            TEMPLATE.format(config=config, ods=ods, ods_lower=ods.lower(), alg=alg),
            encoding="utf-8",
        )
        _move_into_place(staging, directory)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if made:
            with suppress(OSError):
                directory.rmdir()  # only when empty: nothing else was put there meanwhile
        raise InitError(
            f"cannot write the configuration and keys in {directory} ({exc.strerror}): nothing "
            "was written; free some space or fix the folder's permissions, then run "
            "`ltcbridge init` again"
        ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return config


def _move_into_place(staging: Path, directory: Path) -> None:
    """The staged keys into ``directory/keys``, then the configuration last (its presence says
    ``init`` finished); a failure part-way takes back what was already moved."""
    keys = directory / "keys"
    staged = [*sorted((staging / "keys").iterdir()), staging / CONFIG_NAME]
    targets = [keys / path.name for path in staged[:-1]] + [directory / CONFIG_NAME]
    taken = [target for target in targets if target.exists()]
    if taken:
        raise InitError(
            f"{taken[0]} already exists: choose an empty directory, or move the old files away "
            "first (they may be in use by the service)"
        )
    made_keys = not keys.exists()
    moved: list[Path] = []
    try:
        keys.mkdir(exist_ok=True)
        for source, target in zip(staged, targets, strict=True):
            os.replace(source, target)
            moved.append(target)
    except OSError:
        for target in moved:
            target.unlink(missing_ok=True)
        if made_keys:
            with suppress(OSError):
                keys.rmdir()
        raise
