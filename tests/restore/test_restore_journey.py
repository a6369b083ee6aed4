"""The agent's side of a restore at an external identity provider, through
HTTP: issuing hands the case to the provider ("restoring"), the worker's
calls (against a local server answering as the provider documents) confirm
it, the credential reaches the person the way the console delivers its own,
and every failure leaves the case open with the reason and an alert."""

import threading
from datetime import timedelta

import pytest
from django.urls import reverse

from recovery_console.models import Alert, Notice, RecoveryCase
from recovery_console.restore.models import RestoreAttempt
from tests.recovery.support import events, refusals
from tests.sessions import sign_in_client

from .providers import entra, keycloak, okta
from .server import Reply
from .support import approved_case_at, attempt_of, environment, run_due

pytestmark = pytest.mark.django_db
State = RecoveryCase.State


def issue(client, case, channel=None, key="k" * 22):
    data = {"key": key, "replaces": "0"}
    if channel is not None:
        data["channel"] = str(channel.pk)
    return client.post(reverse("recovery:issue", args=[case.pk]), data)


def page(client, case) -> str:
    return client.get(reverse("recovery:case", args=[case.pk])).content.decode()


@pytest.fixture
def run(monkeypatch):
    """The worker's part, run in the test when the attempt is due."""
    return lambda case: run_due(case, monkeypatch)


@pytest.fixture
def graph(provider_server, monkeypatch, settings):
    settings.RESTORE_BACKOFF_SECONDS = 1
    provider_server.on("POST", entra.TOKEN_PATH, entra.token())
    provider_server.on("GET", entra.USER_PATH, entra.user())
    provider_server.on("GET", entra.FIDO2_PATH, entra.fido2_methods("key-1"))
    provider_server.on("DELETE", f"{entra.FIDO2_PATH}/key-1", entra.deleted(entra.DELETE_FIDO2))
    provider_server.on("POST", entra.REVOKE_PATH, entra.revoked())
    environment(monkeypatch, provider_server, "entra")
    return provider_server


@pytest.fixture
def entra_case(graph, client):
    case, agent, target = approved_case_at("entra", entra.USER)
    sign_in_client(client, agent)
    return case


def creations(server) -> int:
    return len(server.calls("POST", entra.PASSES_PATH))


def test_a_pass_sent_to_the_persons_channel_completes_the_case(client, graph, entra_case, run):
    graph.on("POST", entra.PASSES_PATH, entra.pass_created())
    assert "issuing asks the provider for it (target CORP)" in page(client, entra_case)
    email = entra_case.identity.channels.get(kind="email")
    response = issue(client, entra_case, channel=email)
    assert response.status_code == 302
    entra_case.refresh_from_db()
    assert entra_case.state == State.RESTORING
    waiting = page(client, entra_case)
    assert "Restoring at the provider" in waiting and "waiting for the provider" in waiting
    assert graph.requests == []  # nothing is called inside the agent's request

    assert run(entra_case).state == RestoreAttempt.State.CONFIRMED
    entra_case.refresh_from_db()
    assert entra_case.state == State.COMPLETED and entra_case.watch_until
    [create] = graph.calls("POST", entra.PASSES_PATH)
    assert create.json() == {"isUsableOnce": True, "lifetimeInMinutes": 60}
    assert [c.path for c in graph.calls("DELETE")] == [f"{entra.FIDO2_PATH}/key-1"]
    assert len(graph.calls("POST", entra.REVOKE_PATH)) == 1
    sent = Notice.objects.get(event="restore_credential")
    assert sent.channel == email and sent.carries_secret and entra.PASS_VALUE in sent.body
    attempt = attempt_of(entra_case)
    assert attempt.sealed_secret == "" and attempt.removed_passkeys == ["key-1"]
    told = Notice.objects.filter(event="recovery_restore_issued", identity=entra_case.identity)
    assert told.filter(channel__isnull=False).count() == 2  # every channel, and monitoring
    assert all(entra.PASS_VALUE not in n.body for n in told)
    shown = page(client, entra_case)
    assert "confirmed by the provider" in shown and entra.REQUEST_ID in shown
    assert entra.PASS_VALUE not in shown
    confirmed = events("restore_confirmed").get()
    assert entra.REQUEST_ID in confirmed.additional_data["request_ids"]
    assert entra.PASS_VALUE not in str(list(events("restore_credential_created").values()))


def test_a_pass_read_out_is_shown_once_to_the_holding_agent(client, graph, entra_case, run):
    graph.on("POST", entra.PASSES_PATH, entra.pass_created())
    issue(client, entra_case)
    run(entra_case)
    attempt = attempt_of(entra_case)
    assert attempt.delivery == "read_out" and attempt.sealed_secret
    assert entra.PASS_VALUE not in attempt.sealed_secret
    assert "Show the credential once" in page(client, entra_case)
    url = reverse("recovery:restore_read_out", args=[entra_case.pk])
    first = client.post(url)
    assert first.status_code == 200 and entra.PASS_VALUE in first.content.decode()
    again = client.post(url)
    assert again.status_code == 409 and entra.PASS_VALUE not in again.content.decode()
    assert "Show the credential once" not in page(client, entra_case)
    assert events("restore_credential_shown").count() == 1


@pytest.mark.parametrize(("reply", "kind"), [
    (entra.unauthorized, "bad_credentials"),
    (entra.forbidden, "bad_credentials"),
    (entra.not_found, "unknown_user"),
    (entra.conflict, "conflict"),
])
def test_a_refusal_leaves_the_case_open_with_the_reason_and_an_alert(
        client, graph, entra_case, reply, kind, run):
    graph.on("POST", entra.PASSES_PATH, reply())
    issue(client, entra_case)
    assert run(entra_case).state == RestoreAttempt.State.FAILED
    entra_case.refresh_from_db()
    assert entra_case.state == State.APPROVED
    attempt = attempt_of(entra_case)
    assert attempt.failure_kind == kind
    shown = page(client, entra_case)
    assert "Nothing was restored" in shown and reply().body["error"]["code"] in shown
    alert = Alert.objects.get(kind=Alert.Kind.RESTORE_FAILED)
    assert alert.case == entra_case and kind in alert.detail
    assert not Notice.objects.filter(event__in=["restore_credential",
                                                "recovery_restore_issued"]).exists()
    # The agent may issue again once the cause is fixed: a new attempt.
    graph.routes[("POST", entra.PASSES_PATH)] = [entra.pass_created()]
    assert issue(client, entra_case, key="n" * 22).status_code == 302
    assert run(entra_case).state == RestoreAttempt.State.CONFIRMED
    assert attempt_of(entra_case).number == 2


def test_throttling_waits_as_long_as_the_provider_asks_then_gives_up(
        client, graph, entra_case, settings, run):
    settings.RESTORE_MAX_TRIES = 2
    graph.on("POST", entra.PASSES_PATH, entra.throttled(seconds=7))
    issue(client, entra_case)
    outcome = run(entra_case)
    assert outcome.retry_in == 7
    entra_case.refresh_from_db()
    assert entra_case.state == State.RESTORING
    assert "is limiting the console" in page(client, entra_case)
    assert run(entra_case).state == RestoreAttempt.State.FAILED
    entra_case.refresh_from_db()
    assert entra_case.state == State.APPROVED
    assert Alert.objects.filter(kind=Alert.Kind.RESTORE_FAILED).count() == 1
    assert events("restore_retry").get().additional_data["retry_in"] == 7


def test_a_provider_error_is_retried_with_backoff_and_creates_one_pass(
        client, graph, entra_case, settings, run):
    graph.on("POST", entra.PASSES_PATH, entra.unavailable(), entra.pass_created())
    issue(client, entra_case)
    assert run(entra_case).retry_in == 3  # Retry-After 3 s beats the 1 s backoff
    assert run(entra_case).state == RestoreAttempt.State.CONFIRMED
    assert creations(graph) == 2  # the first answered 503 and created nothing


def test_a_retry_after_the_pass_was_created_never_creates_a_second(client, graph, entra_case, run):
    graph.on("POST", entra.PASSES_PATH, entra.pass_created())
    graph.routes[("POST", entra.REVOKE_PATH)] = [entra.unavailable(), entra.revoked()]
    issue(client, entra_case)
    assert run(entra_case).retry_in is not None
    assert attempt_of(entra_case).state == RestoreAttempt.State.CREATED
    assert run(entra_case).state == RestoreAttempt.State.CONFIRMED
    assert creations(graph) == 1
    # The task delivered once more (a worker lost before acknowledging): nothing happens.
    before = len(graph.requests)
    assert run(entra_case).state == RestoreAttempt.State.CONFIRMED
    assert len(graph.requests) == before and creations(graph) == 1


def test_a_create_with_no_answer_is_checked_before_creating_again(
        client, graph, entra_case, settings, run):
    settings.RESTORE_HTTP_TIMEOUT = 0.3
    late = threading.Event()
    graph.on("POST", entra.PASSES_PATH, Reply(201, {}, hold=late), entra.pass_created())
    issue(client, entra_case)
    try:
        assert run(entra_case).retry_in is not None
    finally:
        late.set()
    attempt = attempt_of(entra_case)
    # The provider may have made a pass nobody holds the value of: it is deleted first.
    graph.on("GET", entra.PASSES_PATH, entra.passes(attempt.created_at.isoformat()))
    graph.on("DELETE", f"{entra.PASSES_PATH}/{entra.PASS_ID}",
             entra.deleted(entra.DELETE_PASS))
    assert run(entra_case).state == RestoreAttempt.State.CONFIRMED
    assert [c.path for c in graph.calls("DELETE")][0] == f"{entra.PASSES_PATH}/{entra.PASS_ID}"
    assert creations(graph) == 2
    assert events("restore_lost_credential_removed").count() == 1


def test_a_dry_run_calls_nothing_and_hands_the_case_back(client, graph, run):
    case, agent, target = approved_case_at("entra", entra.USER, dry_run=True)
    sign_in_client(client, agent)
    issue(client, case)
    assert run(case).state == RestoreAttempt.State.DRY_RUN
    assert graph.requests == []
    case.refresh_from_db()
    assert case.state == State.APPROVED
    shown = page(client, case)
    assert "dry run: nothing was called or restored" in shown
    assert "delete the person&#x27;s passkeys" in shown
    assert events("restore_dry_run").get().additional_data["calls"]
    assert not Alert.objects.exists()


def test_a_person_the_targets_directory_does_not_manage_is_refused_before_any_call(
        client, graph, entra_case):
    entra_case.identity.__class__.objects.filter(pk=entra_case.identity_id).update(
        directory_source=None)
    response = issue(client, entra_case)
    assert response.status_code == 409
    assert "not managed by the directory" in response.content.decode()
    entra_case.refresh_from_db()
    assert entra_case.state == State.APPROVED and graph.requests == []
    assert refusals("restore_begin", "subject_source_mismatch").count() == 1


def test_a_person_without_an_id_at_the_provider_is_refused(client, graph, entra_case):
    entra_case.identity.__class__.objects.filter(pk=entra_case.identity_id).update(
        external_id="")
    assert issue(client, entra_case).status_code == 409
    assert refusals("restore_begin", "no_subject_mapping").count() == 1


def test_the_provider_answering_for_someone_else_refuses(client, graph, entra_case, run):
    graph.routes[("GET", entra.USER_PATH)] = [Reply(200, {"id": "00000000-0000-0000-0000-0000"
                                                          "00000000"}, headers={})]
    issue(client, entra_case)
    assert run(entra_case).state == RestoreAttempt.State.FAILED
    assert attempt_of(entra_case).failure_kind == "subject_mismatch"
    assert creations(graph) == 0


def test_missing_credentials_refuse_the_hand_off(client, graph, entra_case, monkeypatch):
    monkeypatch.delenv("RESTORE_CORP_CLIENT_SECRET")
    response = issue(client, entra_case)
    assert response.status_code == 409 and "not configured" in response.content.decode()
    assert "sEcReT" not in str(list(refusals("restore_begin").values()))


def test_an_okta_code_goes_to_the_persons_phone(client, provider_server, monkeypatch, run):
    for method, path, reply in [
            ("GET", okta.USER_PATH, okta.user()), ("POST", okta.TAC_PATH, okta.tac_created()),
            ("GET", okta.FACTORS_PATH, okta.factors("fwf2rbx6cfqAbC")),
            ("DELETE", f"{okta.FACTORS_PATH}/fwf2rbx6cfqAbC", okta.no_content(okta.FACTORS)),
            ("DELETE", okta.SESSIONS_PATH, okta.no_content(okta.SESSIONS))]:
        provider_server.on(method, path, reply)
    environment(monkeypatch, provider_server, "okta")
    case, agent, target = approved_case_at("okta", okta.USER)
    sign_in_client(client, agent)
    phone = case.identity.channels.get(kind="phone")
    issue(client, case, channel=phone)
    assert run(case).state == RestoreAttempt.State.CONFIRMED
    sent = Notice.objects.get(event="restore_credential")
    assert sent.channel == phone and okta.TAC_VALUE in sent.body
    assert okta.REQUEST_ID in page(client, case)


def test_keycloak_emails_the_person_itself(client, provider_server, monkeypatch, run):
    for method, path, reply in [
            ("POST", keycloak.TOKEN_PATH, keycloak.token()),
            ("GET", keycloak.USER_PATH, keycloak.user()),
            ("PUT", keycloak.ACTIONS_PATH, keycloak.no_content()),
            ("POST", keycloak.LOGOUT_PATH, keycloak.no_content())]:
        provider_server.on(method, path, reply)
    environment(monkeypatch, provider_server, "keycloak")
    case, agent, target = approved_case_at("keycloak", keycloak.USER, remove_old_passkeys=False)
    sign_in_client(client, agent)
    issue(client, case, channel=case.identity.channels.get(kind="email"))
    assert run(case).state == RestoreAttempt.State.CONFIRMED
    assert attempt_of(case).delivery == "provider"
    assert not Notice.objects.filter(event="restore_credential").exists()
    assert provider_server.calls("GET", keycloak.CREDENTIALS_PATH) == []
    assert "Sent by the provider itself" in page(client, case)


def test_the_built_in_target_still_issues_the_consoles_own_credential(client, graph):
    case, agent, target = approved_case_at("entra", entra.USER)
    target.kind = "built_in"
    target.save()
    sign_in_client(client, agent)
    response = issue(client, case)
    assert response.status_code == 302 and "/credentials/" in response["Location"]
    case.refresh_from_db()
    assert case.state == State.CREDENTIAL_ISSUED and not case.restore_attempts.exists()


def test_a_case_cancelled_while_restoring_gets_nothing_and_its_pass_is_deleted(
        client, graph, entra_case, run):
    graph.on("POST", entra.PASSES_PATH, entra.pass_created())
    graph.on("DELETE", f"{entra.PASSES_PATH}/{entra.PASS_ID}", entra.deleted(entra.DELETE_PASS))
    graph.routes[("POST", entra.REVOKE_PATH)] = [entra.unavailable(), entra.revoked()]
    issue(client, entra_case)
    assert run(entra_case).retry_in is not None  # the pass exists; sessions not yet revoked
    response = client.post(reverse("recovery:cancel", args=[entra_case.pk]),
                           {"reason": "The caller hung up and did not call back."})
    assert response.status_code == 302
    assert run(entra_case).state == RestoreAttempt.State.FAILED
    assert attempt_of(entra_case).failure_kind == "case_closed"
    assert [c.path for c in graph.calls("DELETE")][-1] == f"{entra.PASSES_PATH}/{entra.PASS_ID}"
    entra_case.refresh_from_db()
    assert entra_case.state == State.CANCELLED
    assert not Notice.objects.filter(event="restore_credential").exists()


def test_the_task_runs_the_hand_off_and_a_lost_one_is_queued_again(
        client, graph, entra_case, monkeypatch):
    from celery import Celery

    from recovery_console import clock, tasks
    from recovery_console.celery import app as console_app
    from recovery_console.restore.workflow import requeue_stalled

    graph.on("POST", entra.PASSES_PATH, entra.pass_created())
    issue(client, entra_case)  # its task is never queued: the test's transaction never commits
    attempt = attempt_of(entra_case)
    assert requeue_stalled() == []  # not late yet
    later = attempt.next_try_at + timedelta(minutes=3)
    monkeypatch.setattr(clock, "now", lambda: later)
    memory = Celery("restore-sweep", set_as_current=False, broker="memory://")
    memory.set_current()
    try:
        assert requeue_stalled() == [attempt.pk]
    finally:
        console_app.set_current()
    assert tasks.run_restore.apply(args=[attempt.pk]).get() == "confirmed"
    assert requeue_stalled() == []
    assert creations(graph) == 1
