"""Security admins register the applications that sign people in through
the provider. The form offers only what the provider allows (authorization
code, RS256, exact redirect URIs); the decision is ``workflow.register_application``."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from oauth2_provider.models import get_application_model

from ..refusal import WorkflowError
from . import workflow

Application = get_application_model()


class ApplicationForm(forms.ModelForm):
    authorization_grant_type = forms.ChoiceField(
        choices=[(Application.GRANT_AUTHORIZATION_CODE, "Authorization code (with PKCE)")],
        initial=Application.GRANT_AUTHORIZATION_CODE,
        help_text="The only flow the provider allows: implicit, password and the others "
                  "are refused.")
    algorithm = forms.ChoiceField(
        choices=[(Application.RS256_ALGORITHM, "RS256 (the provider's published key)")],
        initial=Application.RS256_ALGORITHM, label="ID token signature")

    class Meta:
        model = Application
        fields = ["name", "client_id", "client_type", "client_secret", "redirect_uris",
                  "authorization_grant_type", "algorithm", "allowed_origins"]
        help_texts = {
            "redirect_uris": "Exact addresses the application receives the sign-in at, one "
                             "per line; the request must name one of them character for "
                             "character.",
            "client_secret": "Copy it now for a confidential application: it is stored "  # nosec B105
                             "hashed and cannot be read again.",
            "client_type": "Confidential: a server that keeps the secret. Public: a "
                           "browser or mobile app (no secret; PKCE protects the code).",
        }

    def clean_redirect_uris(self) -> str:
        uris = self.cleaned_data["redirect_uris"].split()
        if not uris:
            raise forms.ValidationError("Give at least one redirect URI.")
        for uri in uris:
            if "*" in uri or "#" in uri:
                raise forms.ValidationError(f"{uri}: no wildcard and no fragment.")
        return "\n".join(uris)


class ApplicationAdmin(admin.ModelAdmin):
    form = ApplicationForm
    list_display = ("name", "client_id", "client_type", "redirect_uris", "updated")
    search_fields = ("name", "client_id")

    def get_readonly_fields(self, request, obj=None):
        return ("client_id", "client_secret") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        try:
            workflow.register_application(obj, request.user, request=request)
        except WorkflowError as refused:
            raise PermissionDenied(refused.message) from None


if admin.site.is_registered(Application):
    admin.site.unregister(Application)
admin.site.register(Application, ApplicationAdmin)
