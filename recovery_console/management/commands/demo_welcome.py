"""The last lines ``make run`` prints: how to sign in, and whom to recover.

A process of the development Procfile: it waits until the web server
answers and a Celery worker answers a ping (so the instructions come after
the processes' own start-up lines, not lost above them), prints, then waits
to be stopped with the others (honcho stops every process when one ends)."""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.management.commands.seed_demo import sign_in_instructions
from accounts.models import Identity
from recovery_console.celery import app
from recovery_console.management.commands.seed_recovery_demo import SELF_SERVICE_PERSON
from recovery_console.models import PopulationRule, RecoveryCase, Team


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  # nosec B310
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def worker_answers() -> bool:
    try:
        return bool(app.control.ping(timeout=1))
    except Exception:  # the broker is not there yet: not ready, whatever the reason
        return False


def team_lines() -> list[str]:
    """Which help-desk team each demo agent is in, and what the team serves."""
    teams = list(Team.objects.prefetch_related("members").select_related("escalates_to"))
    if not teams:
        return []
    labels = dict(PopulationRule.Population.choices)
    lines = ["Help-desk teams (an agent sees, searches and works only their team's cases):"]
    for team in teams:
        agents = ", ".join(sorted(m.username for m in team.members.all())) or "nobody"
        # "Employees" reads "employees" mid-line; "B2B partners" keeps its capitals.
        serves = ", ".join(_mid_line(labels.get(p, p)) for p in team.serves) or "nobody"
        onward = f"; above, to {team.escalates_to}" if team.escalates_to else ""
        lines.append(f"  {agents:<12} {team.name}: {serves}, up to "
                     f"{team.get_highest_tier_display().lower()}{onward}")
    return lines


class Command(BaseCommand):
    help = ("Wait until the console at SITE answers, print how to sign in and whom to "
            "recover, then wait to be stopped (make run's last words).")

    def add_arguments(self, parser):
        parser.add_argument("site", nargs="?", default="http://localhost:8000")
        parser.add_argument("--timeout", type=float, default=120,
                            help="Seconds to wait for the web server and a worker before "
                                 "printing anyway.")
        parser.add_argument("--settle", type=float, default=1,
                            help="Seconds to wait once both answer, for beat's last start-up "
                                 "lines.")
        parser.add_argument("--no-wait", action="store_true",
                            help="Print and return (no waiting before or after).")

    def handle(self, *args, site: str, timeout: float, settle: float, no_wait: bool,
               **options):
        if not settings.DEBUG:
            raise CommandError("The demo's instructions print its passwords: DEBUG is off.")
        site = site.rstrip("/")
        if not no_wait:
            deadline = time.monotonic() + timeout
            up = self._wait_for("the web server", lambda: web_answers(f"{site}/healthz"),
                                deadline)
            up = self._wait_for("a Celery worker", worker_answers, deadline) and up
            time.sleep(settle if up else 0)
        self.stdout.write("\n".join(["", *self.lines(site), ""]))
        self.stdout.flush()
        if not no_wait:
            self._wait_to_be_stopped()

    def lines(self, site: str) -> list[str]:
        lines = [self.style.SUCCESS(f"Recovery Console is ready: {site}/"),
                 *sign_in_instructions(site), *team_lines()]
        person = Identity.objects.select_related("user").filter(
            directory_id=SELF_SERVICE_PERSON).first()
        if person is not None:
            lines += [
                "A person who lost their passkey (self-service request):",
                f"  open {site}/recover/ and type  {person.user.email}",
                f"  ({person.display_name}, directory id {person.directory_id}). A worker opens "
                "the case in the agents' queue;",
                f"  what the person's mailbox and phone receive shows at {site}/outbox/.",
            ]
            waiting = RecoveryCase.objects.filter(
                identity=person, state__in=RecoveryCase.OPEN_STATES).first()
            if waiting is not None:
                lines.append(f"  ({person.display_name} has case {waiting.pk} open already: "
                             "a new request opens nothing until it closes.)")
        lines += [
            "An application that signs in through the console (OpenID Connect, passkeys):",
            f"  open http://localhost:{settings.DEMO_RELYING_PARTY_PORT}/ and click "
            "\"Sign in with Recovery Console\". It takes a person's passkey: recover the",
            "  person above, enrol the passkey in this browser, then sign in there. Its "
            f"discovery document: {site}/oidc/.well-known/openid-configuration",
        ]
        lines.append("Ctrl-C stops web, worker, beat and the demo application.")
        return lines

    def _wait_for(self, what: str, answers, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if answers():
                return True
            time.sleep(0.5)
        self.stderr.write(f"{what} did not answer in time; printing anyway.")
        return False

    @staticmethod
    def _wait_to_be_stopped() -> None:
        def stop(signum, frame):
            sys.exit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            signal.pause()


def _mid_line(label: str) -> str:
    first = label.split(" ", 1)[0]
    return label if first.isupper() else label[:1].lower() + label[1:]
