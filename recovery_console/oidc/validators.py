"""django-oauth-toolkit's request validator, narrowed to what the provider
allows: the authorization code flow with PKCE, exact redirect URIs, and ID
tokens that say who (``sub``) and how (``amr``, ``auth_time``) — names and
email only with their scopes."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator

from .models import SignInContext
from .workflow import subject_of

GRANT_TYPES = {"authorization_code", "refresh_token"}


class ProviderValidator(OAuth2Validator):
    oidc_claim_scope = {"sub": "openid", "name": "profile", "email": "email"}

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        # Implicit and hybrid flows are refused whatever the application says.
        return response_type == "code" and super().validate_response_type(
            client_id, response_type, client, request, *args, **kwargs)

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type in GRANT_TYPES and super().validate_grant_type(
            client_id, grant_type, client, request, *args, **kwargs)

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        # Simple string comparison (OpenID Connect Core 3.1.2.1): no loopback port
        # freedom, no wildcard.
        return redirect_uri in request.client.redirect_uris.split()

    def _create_authorization_code(self, request, code, expires=None):
        grant = super()._create_authorization_code(request, code, expires)
        # Set by the authorization view from the session that authorized the code.
        SignInContext.objects.create(grant=grant, amr=request.amr, auth_time=request.auth_time)
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            return False
        request.sign_in_context = SignInContext.objects.filter(
            grant__code=code, grant__application=client).first()
        return True

    def refresh_id_token(self, request):
        # An ID token tells how the person signed in; a refresh is no sign-in.
        return False

    def get_additional_claims(self, request):
        user = request.user
        claims = {"sub": subject_of(user), "name": user.identity.display_name}
        if user.email:
            claims["email"] = user.email
        return claims

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expires = super().get_id_token_dictionary(token, token_handler, request)
        context = getattr(request, "sign_in_context", None)
        if context is not None:
            claims["amr"] = context.amr
            claims["auth_time"] = int(context.auth_time.timestamp())
        return claims, expires
