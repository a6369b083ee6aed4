"""The authorization endpoint, signing in through the console's portal:
someone not signed in (or not past a second factor) goes to /my/sign-in/
and comes back to the same request."""

from __future__ import annotations

import json

from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.shortcuts import render
from django.urls import reverse_lazy
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView, ConnectDiscoveryInfoView

from ..refusal import WorkflowError
from . import workflow


class ProviderAuthorizationView(AuthorizationView):
    template_name = "oidc/authorize.html"
    login_url = reverse_lazy("accounts:portal_sign_in")
    http_method_names = ["get", "post", "head"]  # FormView would take PUT as a POST

    def dispatch(self, request, *args, **kwargs):
        user = request.user
        if user.is_authenticated and not user.is_verified():
            return redirect_to_login(request.get_full_path(), self.login_url)
        try:
            return super().dispatch(request, *args, **kwargs)
        except WorkflowError as refusal:
            return render(request, "oidc/refused.html", {"message": refusal.message},
                          status=refusal.status)

    def form_invalid(self, form):
        # Registered applications never show the consent form: a POST here is no
        # answer to one this console showed.
        return render(self.request, "oidc/authorize.html",
                      {"error": {"error": "invalid_request",
                                 "description": "This sign-in request is incomplete."}},
                      status=400)

    def create_authorization_response(self, request, scopes, credentials, allow):
        if not allow:
            return super().create_authorization_response(request, scopes, credentials, allow)
        application = get_application_model().objects.get(client_id=credentials["client_id"])
        # The sign-in is recorded with the code it issues, or not at all (a request
        # the code's creation refuses, e.g. a "plain" PKCE challenge); a refused
        # sign-in keeps its audited refusal.
        with transaction.atomic():
            try:
                facts = workflow.sign_in_to_application(
                    request.user, application, workflow.sign_in_facts(request), request=request)
            except WorkflowError as refused:
                refusal = refused
            else:
                credentials = {**credentials, "amr": facts.amr, "auth_time": facts.auth_time}
                return super().create_authorization_response(request, scopes, credentials,
                                                             allow)
        raise refusal


class ProviderDiscoveryView(ConnectDiscoveryInfoView):
    """The discovery document, saying only what the provider accepts: RS256
    (django-oauth-toolkit also lists HS256, which registration refuses) and
    the grants an application may use."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        document = json.loads(response.content)
        document["id_token_signing_alg_values_supported"] = ["RS256"]
        document["grant_types_supported"] = ["authorization_code", "refresh_token"]
        response.content = json.dumps(document)
        return response
