"""A whole recovery journey, with every log line the console writes captured:
no channel code, recovery credential code, link token, session token or
password appears in them, even where Django logs a refused link's path."""

import re

import pytest
from django.test import Client

from recovery_console import outbox, workflow
from recovery_console.models import Notice, RecoveryCredential
from recovery_console.views.public import RECOVERY_SESSION_KEY
from tests.factories import PASSWORD, current_totp, recovery_case, staff
from tests.recovery.support import approved, attestation_token, channel_of, code_sent, step_of
from tests.sessions import passkey_for

pytestmark = pytest.mark.django_db
CREDENTIAL_CODE = re.compile(r"\b[A-Z2-9]{5}(?:-[A-Z2-9]{5}){3}\b")
WRONG_PASSWORD = "not-my-password-4711"


def sign_in_over_http(client, user):
    refused = client.post("/accounts/sign-in/", {"username": user.username,
                                                 "password": WRONG_PASSWORD,
                                                 "otp_token": current_totp(user)})
    assert refused.status_code == 400
    totp = current_totp(user)
    response = client.post("/accounts/sign-in/", {"username": user.username,
                                                  "password": PASSWORD, "otp_token": totp})
    assert response.status_code == 302, response.content.decode()[:500]
    return totp


def step_url(case, kind):
    return f"/cases/{case.pk}/steps/{step_of(case, kind).pk}/"


def redeem_over_http(handle, code):
    subject = Client()
    wrong = {"code": "AAAAA-AAAAA-AAAAA-AAAAA", "passkeys": "supported"}
    assert subject.post(f"/recover/{handle}/", wrong).status_code == 400
    right = {"code": code, "passkeys": "supported"}
    assert subject.post(f"/recover/{handle}/", right).status_code == 302
    assert subject.get("/recover/enrol/").status_code == 200
    return subject.session[RECOVERY_SESSION_KEY]


def test_a_whole_recovery_journey_logs_no_secret(client, log_output):
    agent, supervisor = staff("agent"), staff("supervisor")
    secrets = {PASSWORD, WRONG_PASSWORD, sign_in_over_http(client, agent)}

    # A low case, worked entirely through the console's pages.
    case = recovery_case("low", agent=agent)
    client.post(step_url(case, "channel_code"), {"action": "send", "channel": channel_of(case).pk})
    wrong = f"{(int(code_sent(case)) + 1) % 1_000_000:06d}"
    client.post(step_url(case, "channel_code"), {"action": "check", "code": wrong})
    client.post(step_url(case, "channel_code"), {"action": "check", "code": code_sent(case)})
    issued = client.post(f"/cases/{case.pk}/issue/",
                         {"channel": channel_of(case, "email").pk})
    assert issued.status_code == 302  # to the page that shows it once
    sent = Notice.objects.filter(event="recovery_credential", case=case).get().body
    handle, code = re.search(r"/recover/([\w-]+)/", sent).group(1), CREDENTIAL_CODE.search(sent)[0]
    secrets.add(redeem_over_http(handle, code))
    workflow.complete(case.sessions.get(), passkey_for(case.identity.user)[0])

    # A high case: attestation and a supervisor's approval, then a read-out code.
    high = approved(recovery_case("high", agent=agent), agent, supervisor)
    token = attestation_token(high)
    assert client.get(f"/attest/{token}/").status_code in (200, 409)
    assert Client().get("/attest/not-a-real-token-at-all/").status_code == 404
    shown = client.post(f"/cases/{high.pk}/issue/", {"channel": ""})["Location"]
    page = client.get(shown).content.decode()
    read_out = CREDENTIAL_CODE.search(page)[0]
    read_out_handle = RecoveryCredential.objects.get(case=high).handle
    secrets.add(redeem_over_http(read_out_handle, read_out))

    for notice in Notice.objects.all():
        outbox.deliver(notice.pk)

    bodies = " ".join(Notice.objects.values_list("body", flat=True))
    secrets |= set(re.findall(r"code is (\d{6})", bodies))
    secrets |= set(re.findall(r"/attest/([\w-]+)/", bodies))
    secrets |= set(CREDENTIAL_CODE.findall(bodies)) | {read_out, code, wrong}
    secrets |= set(RecoveryCredential.objects.values_list("handle", flat=True))
    assert len(secrets) >= 12

    logs = log_output.getvalue()
    assert f'"correlation_id": "case-{case.pk}"' in logs  # the capture saw the journey
    assert "POST /recover/[redacted]/ 400" in logs
    assert "Bad Request: /recover/[redacted]/" in logs
    assert "Not Found: /attest/[redacted]/" in logs
    leaked = sorted(secret for secret in secrets if secret in logs)
    assert not leaked, f"secrets in the logs: {leaked}"
