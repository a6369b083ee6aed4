from django.urls import path

from . import views

app_name = "signin_events"
urlpatterns = [
    path("sign-in/", views.receive, name="receive"),
]
