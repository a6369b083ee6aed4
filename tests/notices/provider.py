"""A stand-in for an SMS provider (no real one is reachable from here). Like
real providers it takes an idempotency key and delivers one message per key,
however often the same key is submitted. It logs every submission."""

import os
import time
from pathlib import Path


class RecordingSMSProvider:
    def send(self, to: str, body: str, idempotency_key: str) -> None:
        log = Path(os.environ["SMS_PROVIDER_LOG"])
        with log.open("a") as out:
            out.write(f"submitted {idempotency_key}\n")
        if os.environ.get("SMS_PROVIDER_HANG") == "1":
            time.sleep(120)  # the provider never answers: the worker is killed meanwhile


def delivered_messages(log: Path) -> list[str]:
    """What reached phones: one message per distinct idempotency key."""
    keys = [line.split()[1] for line in log.read_text().splitlines()]
    return sorted(set(keys))
