"""The built-in directory as an OpenID Connect provider.

Applications that security admins register in the admin sign people in
through the console's portal sign-in (passkeys): authorization code flow with
PKCE (S256) only, exact redirect URIs, ID tokens signed RS256 with a key that
rotates. django-oauth-toolkit speaks the protocol; this app decides who may
be signed in (identities only), what the ID token says about the sign-in
(``amr``) and which applications may be registered.
"""
