from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("accounts/sign-in/", views.sign_in, name="sign_in"),
    path("accounts/sign-out/", views.sign_out, name="sign_out"),
    path("accounts/passkey/options/", views.passkey_sign_in_options,
         name="passkey_sign_in_options"),
    path("accounts/passkey/verify/", views.passkey_sign_in_verify, name="passkey_sign_in_verify"),
    path("accounts/step-up/", views.step_up, name="step_up"),
    path("accounts/step-up/passkey/options/", views.step_up_passkey_options,
         name="step_up_passkey_options"),
    path("accounts/step-up/passkey/verify/", views.step_up_passkey_verify,
         name="step_up_passkey_verify"),
    path("my/sign-in/", views.portal_sign_in, name="portal_sign_in"),
    path("my/time-zone/", views.time_zone, name="time_zone"),
    path("my/passkeys/", views.passkeys, name="passkeys"),
    path("my/passkeys/add/", views.passkey_add, name="passkey_add"),
    path("my/passkeys/add/options/", views.passkey_register_options,
         name="passkey_register_options"),
    path("my/passkeys/add/verify/", views.passkey_register_verify, name="passkey_register_verify"),
    path("my/passkeys/<int:pk>/revoke/", views.passkey_revoke, name="passkey_revoke"),
]
