"""The simplest transport: drop the sealed file into a folder the recipient collects from.

For a shared drive, an SFTP-synchronised folder or a test. The file appears whole or not at all
(written beside, then renamed), and is named by release id, so a repeat is visible as the same
name and is never written twice.
"""

from __future__ import annotations

import os
from pathlib import Path

from ltcbridge.feed.transport.base import DeliveryError, SealedFile


class FolderTransport:
    name = "folder"

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def deliver(self, release: SealedFile) -> str:
        """Drop the file whole. The folder must exist already: one that does not is a mistyped
        path, and creating it would report a delivery nobody will ever collect."""
        target = self.directory / release.filename
        if target.exists():
            return release.filename
        if not self.directory.is_dir():
            raise DeliveryError(
                f"the drop folder {self.directory} does not exist (or is not a folder): nothing "
                "was sent. Correct the path (it is never created), then send again"
            )
        try:
            partial = self.directory / f".{release.filename}.partial"
            partial.write_text(release.token, encoding="ascii")
            os.replace(partial, target)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write to {self.directory}: {exc.strerror}; check the folder exists and "
                "this account may write to it"
            ) from None
        return release.filename

    def was_delivered(self, release: SealedFile, message_id: str | None) -> bool:
        return (self.directory / release.filename).exists()

    def acknowledged(self, message_id: str) -> bool | None:
        """The recipient takes the file away once stored; a file no longer there was taken."""
        return not (self.directory / message_id).exists()
