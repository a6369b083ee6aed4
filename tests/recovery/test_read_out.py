"""A credential read out on the phone: nobody can say a 22-character link
aloud, so the person opens one short fixed address and types a short
reference with the code. The code, lifetime, attempt limit and single use
are the link's; and no browser that cannot create a passkey ever uses one up."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from recovery_console import tokens, workflow
from recovery_console.forms import NO_PASSKEYS
from recovery_console.models import RecoveryCase, RecoveryCredential, RecoverySession
from tests.factories import recovery_case, staff
from tests.sessions import sign_in_client

from .support import approved, channel_of, refusals

pytestmark = pytest.mark.django_db
READ_OUT = reverse("recovery:redeem_read_out")


@pytest.fixture
def issued(agent):
    return workflow.issue_credential(approved(recovery_case("low", agent=agent), agent), agent)


def type_in(client, reference, code, passkeys="supported"):
    return client.post(READ_OUT, {"reference": reference, "code": code, "passkeys": passkeys})


def test_the_agent_reads_out_a_reference_a_code_and_one_short_address(agent):
    case = approved(recovery_case("low", agent=agent), agent)
    page = sign_in_client(Client(), agent).post(reverse("recovery:issue", args=[case.pk]),
                                                follow=True)
    credential = RecoveryCredential.objects.get(case=case)
    text = page.content.decode()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", credential.reference)
    assert credential.reference in text
    assert "localhost:8000/code" in text
    assert credential.handle not in text  # no link to spell out


def test_the_person_types_the_reference_and_code_and_enrols(issued):
    client = Client()
    assert client.get(READ_OUT).status_code == 200
    reference = issued.credential.reference.lower().replace("-", " ")  # as typed
    response = type_in(client, reference, issued.code.lower())
    assert response.status_code == 302 and response.url == reverse("recovery:enrol")
    assert client.get(reverse("recovery:enrol")).status_code == 200
    issued.credential.refresh_from_db()
    assert issued.credential.used_at is not None
    assert type_in(Client(), issued.credential.reference, issued.code).status_code == 400


def test_a_wrong_code_at_the_short_address_uses_up_the_same_attempts(issued):
    for _ in range(issued.credential.max_attempts):
        response = type_in(Client(), issued.credential.reference, "AAAAA-BBBBB-CCCCC-DDDDD")
        assert response.status_code == 400
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == issued.credential.max_attempts
    assert type_in(Client(), issued.credential.reference, issued.code).status_code == 400
    assert not RecoverySession.objects.exists()


def test_an_unknown_reference_is_refused_like_a_wrong_code(issued):
    response = type_in(Client(), "ZZZZ-ZZZZ", issued.code)
    assert response.status_code == 400
    assert "cannot be used" in response.content.decode()
    assert refusals("credential_redeem", "unknown").exists()
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == 0


def test_a_credential_sent_to_a_channel_has_no_reference_to_type(agent):
    case = approved(recovery_case("low", agent=agent), agent)
    sent = workflow.issue_credential(case, agent, channel=channel_of(case, "email"))
    assert sent.credential.reference is None
    assert type_in(Client(), "", sent.code).status_code == 400
    assert not RecoverySession.objects.exists()


def test_guessing_references_is_rate_limited_per_address(issued, settings):
    settings.RATE_LIMIT_REDEMPTIONS_PER_ADDRESS = 3
    guesser = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(3):
        type_in(guesser, f"AAAA-AAA{n + 2}", "AAAAA")
    response = type_in(guesser, issued.credential.reference, issued.code)
    assert response.status_code == 429
    issued.credential.refresh_from_db()
    assert issued.credential.used_at is None


def test_references_are_unique_and_readable():
    seen = {tokens.new_reference() for _ in range(2000)}
    assert len(seen) == 2000
    assert all(set(r.replace("-", "")) <= set(tokens.ALPHABET) for r in seen)


# --- a browser that cannot create a passkey never uses the credential up ----

@pytest.mark.parametrize("posted", [{}, {"passkeys": ""}, {"passkeys": "no"}])
def test_without_the_browsers_word_that_it_can_make_a_passkey_nothing_is_used(issued, posted):
    link = reverse("recovery:redeem", args=[issued.credential.handle])
    response = Client().post(link, {"code": issued.code, **posted})
    assert response.status_code == 400
    assert NO_PASSKEYS in response.content.decode()
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == 0 and issued.credential.used_at is None
    response = type_in(Client(), issued.credential.reference, issued.code, passkeys="")
    assert response.status_code == 400
    issued.credential.refresh_from_db()
    assert issued.credential.attempts == 0 and issued.credential.used_at is None
    # The same code still works from a browser that can.
    assert type_in(Client(), issued.credential.reference, issued.code).status_code == 302


def passkey_pages(agent, issued):
    """Every page with a passkey ceremony, as its visitor would see it."""
    client = Client()
    yield "redeem", client.get(reverse("recovery:redeem", args=[issued.credential.handle]))
    yield "read out", client.get(READ_OUT)
    type_in(client, issued.credential.reference, issued.code)
    yield "enrol", client.get(reverse("recovery:enrol"))
    yield "portal sign-in", Client().get(reverse("accounts:portal_sign_in"))
    yield "staff sign-in", Client().get(reverse("accounts:sign_in"))
    staff_member = sign_in_client(Client(), staff("agent"))
    yield "add passkey", staff_member.get(reverse("accounts:passkey_add"))


def test_every_passkey_page_says_what_to_do_without_javascript(agent, issued):
    for name, page in passkey_pages(agent, issued):
        assert page.status_code == 200, name
        text = page.content.decode()
        advice = re.search(r"<noscript>(.*?)</noscript>", text, re.S)
        assert advice and "JavaScript" in advice.group(1), name
        # A passkey button does nothing without the script: it starts hidden.
        for button in re.findall(r"<button[^>]*data-passkey=[^>]*>", text):
            assert " hidden" in button, name
        for form in re.findall(r"<form[^>]*data-needs-passkeys[^>]*>.*?</form>", text, re.S):
            assert re.search(r'<button type="submit" disabled>', form), name


def test_the_enrol_page_for_a_case_is_only_for_its_session(issued):
    """Sanity: without a recovery session, the enrol page says it has ended."""
    assert Client().get(reverse("recovery:enrol")).status_code == 403
    assert RecoveryCase.objects.get(pk=issued.credential.case_id).state == "credential_issued"
