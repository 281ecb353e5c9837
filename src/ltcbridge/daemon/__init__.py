"""The practice daemon: GP changes in, referrals out with consent, outcomes back, crash-safe.

See docs/daemon.md. The pieces: ``config`` (the TOML file), ``state`` (SQLite WAL store),
``pull`` (GP incremental read), ``referral`` (consent and the referral Bundle), ``outcomes``
(provider outcomes to GP write-backs), ``effects`` (the outbox), ``cycle`` (one sync),
``runner`` (the scheduled service).
"""

from ltcbridge.daemon.config import Config, ConfigError, load_config
from ltcbridge.daemon.cycle import CycleResult, Syncer
from ltcbridge.daemon.runner import Shutdown, run_daemon
from ltcbridge.daemon.secrets import Secret
from ltcbridge.daemon.state import StateStore

__all__ = [
    "Config",
    "ConfigError",
    "CycleResult",
    "Secret",
    "Shutdown",
    "StateStore",
    "Syncer",
    "load_config",
    "run_daemon",
]
