"""Security admins register applications in the admin, through one audited
decision that allows only the authorization code flow and RS256."""

import re

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model

from recovery_console.oidc import workflow
from recovery_console.refusal import WorkflowError
from tests import admin_forms
from tests.factories import staff
from tests.sessions import sign_in_client

pytestmark = pytest.mark.django_db
Application = get_application_model()
ADD = reverse("admin:oauth2_provider_application_add")


@pytest.fixture
def admin_client():
    return sign_in_client(Client(), staff("security_admin", is_staff=True))


def add_form(client, **changes) -> dict:
    data = {**admin_forms.form_data(client.get(ADD)), "_save": "Save"}
    return {**data, "name": "Team wiki", "client_type": "confidential",
            "redirect_uris": "https://wiki.example.org/callback", **changes}


def test_a_security_admin_registers_an_application_in_the_admin(admin_client):
    form = add_form(admin_client)
    assert form["authorization_grant_type"] == "authorization-code"
    assert form["algorithm"] == "RS256"
    response = admin_client.post(ADD, form)
    assert response.status_code == 302, re.findall(r'class="errorlist[^>]*>(.*?)</ul>',
                                                   response.content.decode(), re.DOTALL)
    application = Application.objects.get(name="Team wiki")
    assert application.skip_authorization and application.client_secret != form["client_secret"]
    entry = LogEntry.objects.get(additional_data__event="application_registered")
    assert entry.actor.has_perm("oauth2_provider.add_application")
    assert entry.additional_data["redirect_uris"] == ["https://wiki.example.org/callback"]
    assert form["client_secret"] not in str(LogEntry.objects.values_list(
        "changes", "additional_data"))


@pytest.mark.parametrize("grant_type", ["implicit", "password", "client-credentials",
                                        "openid-hybrid"])
def test_the_admin_form_refuses_any_other_grant_type(admin_client, grant_type):
    response = admin_client.post(ADD, add_form(admin_client, authorization_grant_type=grant_type))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Application.objects.exists()


def test_the_admin_form_refuses_hs256_and_wildcard_redirect_uris(admin_client):
    for changes in ({"algorithm": "HS256"},
                    {"redirect_uris": "https://*.example.org/callback"}):
        response = admin_client.post(ADD, add_form(admin_client, **changes))
        assert response.status_code == 200
    assert not Application.objects.exists()


def test_the_decision_refuses_other_grant_types_whoever_calls_it():
    application = Application(name="Legacy", client_type="public", redirect_uris="https://x/cb",
                              authorization_grant_type="implicit", algorithm="RS256")
    with pytest.raises(WorkflowError) as refused:
        workflow.register_application(application, staff("security_admin"))
    assert refused.value.reason == "grant_type"
    assert not Application.objects.exists()
    assert LogEntry.objects.filter(additional_data__event="application_register_refused",
                                   additional_data__reason="grant_type").exists()


def test_only_a_security_admin_registers_applications():
    application = Application(name="Wiki", client_type="public", redirect_uris="https://x/cb",
                              authorization_grant_type="authorization-code", algorithm="RS256")
    with pytest.raises(WorkflowError) as refused:
        workflow.register_application(application, staff("agent"))
    assert refused.value.reason == "role"
