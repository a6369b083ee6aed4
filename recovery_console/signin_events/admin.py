"""Sign-in event sources in the admin: a security admin registers one (its
signing secret shown once, on the page that follows) and revokes it; the
events it sent are read only."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from ..refusal import WorkflowError
from . import workflow
from .models import EventSource, SignInEvent


@admin.register(EventSource)
class EventSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "key_id", "created_at", "last_used_at", "revoked_at")
    fields = ("name", "key_id", "created_at", "created_by", "last_used_at", "revoked_at",
              "revoked_by")
    readonly_fields = ("key_id", "created_at", "created_by", "last_used_at", "revoked_at",
                       "revoked_by")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # its events point to it: revoke it instead

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            source, secret = workflow.create_source(form.cleaned_data["name"], request.user,
                                                    request=request)
        except WorkflowError as refused:
            raise PermissionDenied(refused.message) from None
        obj.pk, request.signin_source_secret = source.pk, secret
        obj.key_id = source.key_id

    def response_add(self, request, obj, post_url_continue=None):
        """The secret, this once: it is kept only sealed."""
        context = {**self.admin_site.each_context(request), "opts": self.opts, "source": obj,
                   "title": f"The signing secret of {obj}",
                   "secret": request.signin_source_secret,
                   "endpoint": settings.SITE_URL + reverse("signin_events:receive")}
        response = TemplateResponse(request, "admin/signin_events/source_secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected sources")
    def revoke(self, request: HttpRequest, queryset) -> None:
        for source in queryset:
            try:
                workflow.revoke_source(source, request.user, request=request)
            except WorkflowError as refused:
                messages.error(request, refused.message)
                return
        messages.success(request, f"Revoked {queryset.count()} source(s).")


@admin.register(SignInEvent)
class SignInEventAdmin(admin.ModelAdmin):
    """What the sources reported, read only."""

    list_display = ("occurred_at", "kind", "subject", "identity", "country", "anonymous_proxy",
                    "admin", "application", "case", "source")
    list_filter = ("kind", "source", "admin", "anonymous_proxy")
    list_select_related = ("identity", "source", "case__identity")
    search_fields = ("subject",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
