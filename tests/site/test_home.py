"""The front door: someone not signed in reads where to go; staff land on
the page their role starts from."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory, staff
from tests.sessions import passkey_for, sign_in_client

from .markup import parse

pytestmark = pytest.mark.django_db


def test_someone_not_signed_in_is_sent_to_the_recovery_request_or_to_staff_sign_in(client):
    response = client.get("/")
    assert response.status_code == 200
    page = parse(response.content.decode())
    links = {a.text(): a.get("href") for a in page.find_all("a")}
    assert links["Ask for recovery"] == reverse("recovery:self_service")
    assert links["Staff sign-in"] == reverse("accounts:sign_in")
    assert links["Use that code"] == reverse("recovery:redeem_read_out")
    headings = [h.text() for h in page.find_all("h2")]
    assert headings == ["Lost your passkey?", "Service desk staff"]


@pytest.mark.parametrize("roles, start", [
    (["agent"], "recovery:queue"),
    (["supervisor"], "recovery:approvals"),
    (["security_admin"], "recovery:alerts"),
    (["auditor"], "audit:dashboard"),
    # Several roles: the decisions others wait on first, then the queue, the
    # alerts, the audit (recovery_console.views.staff.START_PAGES).
    (["agent", "supervisor"], "recovery:approvals"),
    (["agent", "security_admin"], "recovery:queue"),
    (["agent", "auditor"], "recovery:queue"),
    (["security_admin", "auditor"], "recovery:alerts"),
    (["supervisor", "security_admin", "auditor"], "recovery:approvals"),
])
def test_staff_land_on_the_page_their_role_starts_from(client, roles, start):
    sign_in_client(client, staff(*roles))
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse(start)
    assert client.get(response.url).status_code == 200


def test_someone_signed_in_without_a_staff_role_lands_on_their_passkeys(client):
    person = UserFactory()
    passkey, _authenticator = passkey_for(person)
    sign_in_client(client, person, device=passkey)
    response = client.get("/")
    assert response.status_code == 302 and response.url == reverse("accounts:passkeys")


def test_staff_signed_in_without_a_second_factor_see_the_front_door(client):
    client.force_login(staff("agent"))  # password only: not verified
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("accounts:sign_in") in response.content.decode()
