from django.urls import path

from . import views

app_name = "idv"
urlpatterns = [
    path("callback/", views.callback, name="callback"),
]
