"""`make run`'s SMTP catcher: accepts every message on loopback and writes it to a folder.

    python deploy/local/smtp_catcher.py --port 8025 --dir .run/mail

Each message becomes one `<UTC time>-<random>.eml` file (written under a temporary name and
renamed, so a reader never sees half a message); open it with any mail client, or read it as
text. Nothing is relayed anywhere. SIGTERM or Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP


class Keep:
    """The aiosmtpd handler: every accepted message to one file in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def write(self, content: bytes) -> None:
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.folder / f".{name}.part"
        partial.write_bytes(content)
        partial.rename(self.folder / name)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002 - aiosmtpd's hook
        await asyncio.to_thread(self.write, envelope.content)
        return "250 Message accepted"


async def serve(host: str, port: int, folder: Path) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Keep(folder), hostname="mooring-smtp-catcher"), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"smtp catcher on {host}:{port}, writing to {folder}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smtp_catcher.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".run/mail"))
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
