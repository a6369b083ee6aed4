from django.urls import path

from . import invitation_views as views

app_name = "invitations"

urlpatterns = [
    path("my/rollout/", views.my_rollout, name="my_rollout"),
    path("my/rollout/invitations/<int:pk>/snooze/", views.snooze, name="snooze"),
    path("my/enrol/<str:token>/", views.enrolment_link, name="enrolment_link"),
    path("rollout/waves/<int:pk>/invite/", views.invite, name="invite"),
]
