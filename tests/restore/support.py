"""A case whose person falls to an external restore target, with the
target's credentials in the environment pointing at the local server."""

from __future__ import annotations

from accounts.models import Identity
from recovery_console import clock
from recovery_console.directory.models import DirectorySource
from recovery_console.restore.models import RestoreAttempt, RestoreTarget
from recovery_console.restore.workflow import run_attempt
from tests.factories import recovery_case, staff
from tests.recovery.support import approved

from .providers import entra, keycloak, okta


def environment(monkeypatch, server, kind: str, name: str = "CORP") -> None:
    values = {
        "entra": {"TENANT": entra.TENANT, "CLIENT_ID": "11112222-bbbb-3333-cccc-4444dddd5555",
                  "CLIENT_SECRET": "sEcReT~value", "GRAPH_URL": server.url + "/v1.0",
                  "LOGIN_URL": server.url},
        "okta": {"ORG_URL": server.url, "API_TOKEN": "00QCjAl4MlV-WPXM",
                 "TAC_AUTHENTICATOR_ID": okta.TAC_AUTHENTICATOR},
        "keycloak": {"BASE_URL": server.url, "REALM": keycloak.REALM,
                     "CLIENT_ID": "recovery-console", "CLIENT_SECRET": "kc-secret"},
    }[kind]
    for setting, value in values.items():
        monkeypatch.setenv(f"RESTORE_{name}_{setting}", value)


def approved_case_at(kind: str, subject_id: str, *, dry_run: bool = False, **target_fields):
    """(case, agent, target): an approved low-tier case, held by the agent,
    whose person the directory maps to ``subject_id`` at the provider."""
    source = DirectorySource.objects.create(name=f"{kind} directory", kind="scim")
    target = RestoreTarget.objects.create(name="CORP", kind=kind, directory_source=source,
                                          dry_run=dry_run, **target_fields)
    agent = staff("agent")
    case = recovery_case("low", agent=agent)
    Identity.objects.filter(pk=case.identity_id).update(directory_source=source,
                                                        external_id=subject_id)
    case.identity.refresh_from_db()
    return approved(case, agent), agent, target


def attempt_of(case) -> RestoreAttempt:
    return case.restore_attempts.order_by("-number").first()


def run_due(case, monkeypatch):
    """What the worker does after the hand-off: the attempt's task, run here
    when it is due (the clock travels past a backoff; nobody sleeps)."""
    attempt = attempt_of(case)
    due = max(attempt.next_try_at, clock.now())
    monkeypatch.setattr(clock, "now", lambda: due)
    return run_attempt(attempt.pk)
