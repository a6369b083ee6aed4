"""The rollout's enforcement pages: the portal's sign-in without a passkey
(under /my/, beside the passkey sign-in) and, for security admins and
auditors, a wave's would-be refusals and its pause."""

from django.urls import path

from . import enforcement_views as views

app_name = "enforcement"
urlpatterns = [
    path("my/sign-in/password/", views.password_sign_in, name="password_sign_in"),
    path("rollout/waves/<int:pk>/would-refuse/", views.would_refuse_list, name="would_refuse"),
    path("rollout/waves/<int:pk>/would-refuse.csv", views.would_refuse_csv,
         name="would_refuse_csv"),
    path("rollout/waves/<int:pk>/pause/", views.wave_pause, name="wave_pause"),
]
