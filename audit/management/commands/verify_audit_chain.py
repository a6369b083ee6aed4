import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audit import chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; report the first broken, edited or missing entry."

    def add_arguments(self, parser):
        parser.add_argument(
            "--checkpoint", type=Path,
            help="A signed checkpoint saved earlier (audit_checkpoint) to check too.",
        )

    def handle(self, *args, checkpoint: Path | None = None, **options):
        verdict = chain.verify()
        if not verdict.intact:
            raise CommandError(f"Audit chain BROKEN after {verdict.checked} good entries: "
                               f"{verdict.problem}")
        if checkpoint is not None:
            try:
                saved = json.loads(checkpoint.read_text())
            except (OSError, ValueError) as exc:
                raise CommandError(f"Cannot read checkpoint {checkpoint}: {exc}") from exc
            why = chain.check_checkpoint(saved)
            if why:
                raise CommandError(f"Checkpoint does not match: {why}")
        self.stdout.write(self.style.SUCCESS(
            f"Audit chain intact: {verdict.checked} entries, head #{verdict.head_sequence} "
            f"{verdict.head_hash}"))
