"""Restore targets: where access is restored after an approved recovery.
The built-in target is the console's own recovery credential; an external
target (Entra ID, Okta, Keycloak) is handed the restore through its API
(``providers``), configured per population or tier (``models``)."""
