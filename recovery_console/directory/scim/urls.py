"""``/scim/v2/`` (RFC 7644 §3.2): Users, Groups and the discovery endpoints."""

from django.urls import path

from . import views

app_name = "scim"
urlpatterns = [
    path("Users", views.users, name="users"),
    path("Users/<str:scim_id>", views.user, name="user"),
    path("Groups", views.groups, name="groups"),
    path("Groups/<str:scim_id>", views.group, name="group"),
    path("ServiceProviderConfig", views.service_provider_config, name="config"),
    path("ResourceTypes", views.resource_types, name="resource_types"),
    path("ResourceTypes/<str:name>", views.resource_types, name="resource_type"),
    path("Schemas", views.schemas, name="schemas"),
    path("Schemas/<str:uri>", views.schemas, name="schema"),
]
