"""The command-line settings of a transport, shared by the commands that send or collect files.

``feed send`` sends over MESH, HTTPS or to a folder; ``hub receive`` and ``secagg receive``
collect from MESH or a folder. They take the same MESH options and read the MESH secrets the same
way: from the environment, never from the command line, where other users of the machine could
read them. Each helper imports the transport code only when called, so that the ``ltcbridge``
command starts fast.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from ltcbridge.errors import LtcbridgeError

if TYPE_CHECKING:
    from ltcbridge.feed.transport.mesh import MeshSettings


class SendSetupError(LtcbridgeError):
    """A transport is missing a setting; the message names the option or variable to set."""


def required(value: Any, option: str) -> Any:
    """``value``, or an error naming ``option`` when the transport chosen needs it and it is
    missing (argparse cannot say so: the option is needed by one ``--via`` only)."""
    if value in (None, ""):
        raise SendSetupError(f"this transport needs {option}")
    return value


def secret_from_env(name: str) -> str:
    """A secret from the environment variable ``name`` (never an option: see the module)."""
    value = os.environ.get(name)
    if not value:
        raise SendSetupError(
            f"set the environment variable {name} (it is never taken as an option)"
        )
    return value


def add_mesh_options(command: argparse.ArgumentParser) -> None:
    """The MESH server, mailbox and client certificate options (used with ``mesh`` only)."""
    from ltcbridge.feed.transport.base import DEFAULT_WORKFLOW_ID  # base: no mesh-client

    command.add_argument(
        "--mesh-url",
        help="mesh: MESH server URL (password: $MESH_PASSWORD, shared key: $MESH_SHARED_KEY)",
    )
    command.add_argument("--mailbox", help="mesh: this organisation's mailbox id")
    command.add_argument("--workflow-id", default=DEFAULT_WORKFLOW_ID, help="mesh: workflow ID")
    command.add_argument("--chunk-mb", type=float, default=20.0, help="mesh: chunk size in MB")
    command.add_argument("--mesh-ca", help="mesh: CA bundle to verify the server")
    command.add_argument("--mesh-cert", help="mesh: client certificate (PEM)")
    command.add_argument("--mesh-cert-key", help="mesh: client certificate's private key")


def mesh_settings(args: argparse.Namespace) -> MeshSettings:
    """The MESH settings from ``add_mesh_options``' options and the environment's secrets."""
    from ltcbridge.feed.transport.mesh import MeshSettings

    cert = (args.mesh_cert, args.mesh_cert_key) if args.mesh_cert else None
    return MeshSettings(
        url=required(args.mesh_url, "--mesh-url URL"),
        mailbox=required(args.mailbox, "--mailbox ID"),
        password=secret_from_env("MESH_PASSWORD"),
        shared_key=secret_from_env("MESH_SHARED_KEY"),
        workflow_id=args.workflow_id,
        max_chunk_size=int(args.chunk_mb * 1024 * 1024),
        verify=args.mesh_ca,
        cert=cert,
    )
