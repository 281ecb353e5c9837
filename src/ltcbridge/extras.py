"""Optional dependencies: a missing one is an error that says which extra to install.

A provider developer installs only the core (``pip install ltcbridge``: the FHIR client, the
provider library and the command line). The practice's feed and daemon, the commissioner's hub and
the secure aggregators need heavier packages (HiGHS, mesh-client, openpyxl, psycopg), brought by
extras (pyproject.toml ``[project.optional-dependencies]``). Every module that imports one of them
does so inside :func:`optional_imports`, so ``import ltcbridge.pipeline`` without HiGHS raises an
:class:`MissingExtraError` naming the command to run, never a bare ``ModuleNotFoundError``; and the
provider path never imports them at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ltcbridge.errors import LtcbridgeError

PRACTICE = "practice"  # a GP practice: feed build/seal/send, the daemon, secure-aggregation shares
HUB = "hub"  # the commissioner: hub receive/report, the secure aggregators

# The distribution to name when a module is missing, where it differs from the module's name.
_DISTRIBUTION = {"mesh_client": "mesh-client", "requests": "mesh-client"}


class MissingExtraError(LtcbridgeError):
    """An optional package this part of ltcbridge needs is not installed."""


def install_hint(*extras: str) -> str:
    """The pip command(s) that bring ``extras``, as a person would type them."""
    return " or ".join(f"pip install 'ltcbridge[{extra}]'" for extra in extras)


@contextmanager
def optional_imports(*extras: str) -> Iterator[None]:
    """Turn a missing third-party module imported in this block into a :class:`MissingExtraError`.

    ``extras`` are the extras that bring the modules (any one is enough). A missing ltcbridge
    module is a packaging bug, not a missing extra, so it is left as it is.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").split(".")[0]
        if not top or top == "ltcbridge":
            raise
        package = _DISTRIBUTION.get(top, top)
        raise MissingExtraError(
            f"this part of ltcbridge needs the optional package {package}, which is not "
            f"installed: run {install_hint(*extras)}"
        ) from None
