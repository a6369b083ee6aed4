"""Role groups decide which staff pages open."""

import pytest
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import staff

pytestmark = pytest.mark.django_db


def signed_in(client, *roles):
    return signed_in_as(client, staff(*roles))


def signed_in_as(client, user):
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return user


@pytest.mark.parametrize("role, status", [
    ("agent", 200), ("supervisor", 200), ("auditor", 200), ("security_admin", 403)])
def test_queue_opens_for_the_roles_that_work_or_review_it(client, role, status):
    signed_in(client, role)
    assert client.get(reverse("recovery:queue")).status_code == status


def test_navigation_shows_links_for_the_viewers_role(client):
    signed_in(client, "agent")
    page = client.get(reverse("recovery:queue")).content.decode()
    assert "Reset queue" in page
    assert "Policies &amp; scripts" not in page


def test_security_admin_starts_on_the_alerts_page(client):
    signed_in(client, "security_admin")
    response = client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("recovery:alerts")


def test_admin_requires_a_second_factor(client):
    user = staff("security_admin", is_staff=True)
    client.force_login(user)  # no OTP device verified in this session
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "login" in response.url


def test_a_security_admin_edits_policies_in_the_admin_without_being_superuser(client):
    from recovery_console.models import RecoveryPolicy

    admin_user = staff("security_admin", is_staff=True)
    signed_in_as(client, admin_user)
    policy = RecoveryPolicy.objects.get(tier="high")
    page = client.get(reverse("admin:recovery_recoverypolicy_change", args=[policy.pk]))
    assert page.status_code == 200
    assert client.get(reverse("admin:recovery_recoverypolicy_delete",
                              args=[policy.pk])).status_code == 403
