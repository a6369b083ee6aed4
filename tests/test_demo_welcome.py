"""`make run` ends with how to sign in and whom to recover: a Procfile
process (manage.py demo_welcome) that prints once the web server and a
worker answer, after the processes' own start-up lines."""

import io
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from recovery_console.management.commands import demo_welcome
from recovery_console.models import RecoveryCase
from tests.recovery.support import resolve_self_service_requests

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    call_command("seed_recovery_demo", stdout=io.StringIO())


def welcome(site: str = "http://localhost:8123") -> str:
    out = io.StringIO()
    call_command("demo_welcome", site, "--no-wait", stdout=out)
    return out.getvalue()


def test_the_welcome_names_the_sign_in_and_a_person_whose_request_opens_a_case(seeded):
    # (One test: seeding the demo takes a while.)
    from recovery_console import workflow

    text = welcome()
    assert "http://localhost:8123/accounts/sign-in/" in text
    assert "password: demo-password-1234" in text
    assert re.search(r"Example current code for 'agent': \d{6}", text)
    assert "open http://localhost:8123/recover/ and type  kemi.rossi@example.org" in text
    assert "Kemi Rossi, directory id mgr-01" in text
    assert text.rstrip().endswith("Ctrl-C stops web, worker, beat and the demo application.")
    assert "/oidc/.well-known/openid-configuration" in text
    # Which team each demo agent is in: the outsourced first line never sees
    # a privileged person.
    assert ("  agent        First line (outsourced): employees, contractors, up to medium; "
            "above, to Internal service desk") in text
    assert "  agent2       Internal service desk: employees, contractors, B2B partners" in text

    workflow.request_self_service("kemi.rossi@example.org")
    assert resolve_self_service_requests() == ["opened"]
    case = RecoveryCase.objects.get(identity__directory_id="mgr-01", source="self_service")
    assert case.state == RecoveryCase.State.NEW and case.tier == "low"
    assert f"has case {case.pk} open already" in welcome()


def test_the_welcome_waits_for_the_web_server_and_a_worker_before_printing(
        settings, monkeypatch):
    settings.DEBUG = True
    said = []
    answers = {"web": iter([False, False, True]), "worker": iter([False, True])}
    monkeypatch.setattr(demo_welcome, "web_answers",
                        lambda url: said.append(f"web? {url}") or next(answers["web"]))
    monkeypatch.setattr(demo_welcome, "worker_answers",
                        lambda: said.append("worker?") or next(answers["worker"]))
    monkeypatch.setattr(demo_welcome.time, "sleep", lambda seconds: None)

    def stopped():
        said.append("waiting to be stopped")
        raise SystemExit(0)

    monkeypatch.setattr(demo_welcome.Command, "_wait_to_be_stopped", staticmethod(stopped))
    out = io.StringIO()
    out.write = lambda text, _write=out.write: said.append("printed") or _write(text)
    with pytest.raises(SystemExit):
        call_command("demo_welcome", "http://localhost:8123", stdout=out)
    assert said == ["web? http://localhost:8123/healthz"] * 3 + ["worker?"] * 2 + [
        "printed", "waiting to be stopped"]


def test_the_welcome_refuses_when_debug_is_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        welcome()


def test_make_run_starts_the_welcome_with_the_web_server_on_the_same_port():
    procfile = dict(line.split(": ", 1) for line in
                    (Path(django_settings.BASE_DIR) / "Procfile").read_text().splitlines())
    port = "${CONSOLE_PORT:-8000}"
    assert f"runserver localhost:{port} " in procfile["web"]
    assert procfile["welcome"].endswith(f"demo_welcome http://localhost:{port}")
