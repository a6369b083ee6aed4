"""Security admins configure directory sources, upload a CSV for a CSV
source, read each run's preview, and apply, confirm or discard a run. Every
decision is the workflow's (``workflow.directory``); these pages only show
and ask."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import Identity

from .. import dispatch, workflow
from ..refusal import WorkflowError
from ..workflow.directory import too_large
from .csvfile import CsvRefused, read_csv
from .mapping import required_attributes
from .models import DirectoryClient, DirectorySource, MappingRule, SyncRun
from .scim.schema import SOURCE_MAPPING as SCIM_MAPPING

PREVIEW_LIMIT = 500  # changes listed on a run's page; the counts cover all


class MappingRuleInline(admin.TabularInline):
    model = MappingRule
    extra = 0
    fields = ("position", "field", "match_on", "attribute", "value", "result")


@admin.register(DirectorySource)
class DirectorySourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "enabled", "identity_count", "csv_import", "ldap_sync")
    list_filter = ("kind", "enabled")
    inlines = [MappingRuleInline]
    readonly_fields = ("csv_import", "ldap_sync", "ldap_state")
    fieldsets = [
        (None, {"fields": ("name", "kind", "enabled", "csv_import", "ldap_sync")}),
        ("LDAP / Active Directory (kind LDAP only)", {
            "description": "The bind password is never stored here: name the environment "
                           "variable that holds it on the workers. See docs/ldap.md.",
            "fields": ("ldap_url", "ldap_tls", "ldap_ca_file", "ldap_bind_dn",
                       "ldap_password_env", "ldap_base_dn", "ldap_filter",
                       "ldap_watermark_attribute", "ldap_page_size", "ldap_connect_timeout",
                       "ldap_receive_timeout", "ldap_max_seconds", "ldap_state")}),
        ("Mapping: which attribute gives what", {"fields": (
            "identifier_attribute", "external_id_attribute", "display_name_attribute",
            "department_attribute", "groups_attribute", "dn_attribute", "manager_attribute",
            "sponsor_attribute", "owner_attribute", "email_attribute", "phone_attribute",
            "callback_phone_attribute", "value_separator")}),
        ("Enabled or disabled at the source", {"fields": (
            "enabled_attribute", "disabled_values", "disabled_flag")}),
        ("Kind when no rule matches", {"fields": ("default_kind",)}),
    ]

    def has_delete_permission(self, request, obj=None):
        return False  # its identities and runs point at it; disable it instead

    def get_changeform_initial_data(self, request):
        """``?kind=scim``: start from the SCIM mapping (docs/directory.md)."""
        initial = super().get_changeform_initial_data(request)
        if initial.get("kind") == DirectorySource.Kind.SCIM:
            initial.update(SCIM_MAPPING)
        return initial

    @admin.display(description="identities")
    def identity_count(self, source: DirectorySource) -> int:
        return source.identities.count()

    @admin.display(description="CSV import")
    def csv_import(self, source: DirectorySource) -> str:
        if source.pk is None or source.kind != DirectorySource.Kind.CSV:
            return "—"
        return format_html('<a href="{}">Upload a CSV and preview it</a>',
                           reverse("admin:directory_directorysource_import", args=[source.pk]))

    @admin.display(description="LDAP sync")
    def ldap_sync(self, source: DirectorySource) -> str:
        if source.pk is None or source.kind != DirectorySource.Kind.LDAP:
            return "—"
        return format_html('<a href="{}">Sync now, or preview a full pass</a>',
                           reverse("admin:directory_directorysource_sync", args=[source.pk]))

    @admin.display(description="last sync")
    def ldap_state(self, source: DirectorySource) -> str:
        if source.kind != DirectorySource.Kind.LDAP or not source.ldap_watermark:
            return "No sync pass has succeeded yet: the next one reads everything."
        return format_html("Last full pass {} ({} entries seen); incremental passes resume "
                           "from {}.", source.ldap_last_full_at or "—",
                           len(source.ldap_seen_ids or ()), source.ldap_watermark)

    def get_urls(self):
        return [path("<int:pk>/import/", self.admin_site.admin_view(self.import_csv),
                     name="directory_directorysource_import"),
                path("<int:pk>/sync/", self.admin_site.admin_view(self.sync),
                     name="directory_directorysource_sync"), *super().get_urls()]

    SYNCS = {"sync": "Sync now", "full": "Full sync now", "preview": "Preview a full pass"}

    def sync(self, request: HttpRequest, pk: int) -> HttpResponse:
        """An LDAP source's page: "Sync now" and "Full sync now" queue the
        pass for a worker; "Preview a full pass" reads the directory now and
        shows the preview to apply or discard. The workflow decides."""
        source = get_object_or_404(DirectorySource, pk=pk, kind=DirectorySource.Kind.LDAP)
        if not self.has_change_permission(request, source):
            raise PermissionDenied
        if request.method == "POST":
            chosen = request.POST.get("pass", "")
            if chosen == "preview":
                try:
                    run = workflow.preview_ldap_source(source, request.user, request=request)
                except WorkflowError as refused:
                    messages.error(request, refused.message)
                    return redirect("admin:directory_directorysource_sync", pk)
                return redirect("admin:directory_syncrun_change", run.pk)
            if chosen in ("sync", "full"):
                dispatch.send("sync_directory_source", source.pk, chosen == "full",
                              request.user.pk)
                messages.success(request, f"{self.SYNCS[chosen]}: queued for a worker. The "
                                 "run appears below when it starts.")
                return redirect("admin:directory_directorysource_sync", pk)
            messages.error(request, "Choose a pass.")
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": f"Sync {source}", "source": source, "passes": self.SYNCS,
                   "runs": source.runs.select_related("started_by")[:20]}
        return TemplateResponse(request, "admin/directory/sync.html", context)

    def import_csv(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Upload a CSV: nothing changes until the preview is applied."""
        source = get_object_or_404(DirectorySource, pk=pk, kind=DirectorySource.Kind.CSV)
        if not self.has_view_permission(request, source):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        status, problems = 200, []
        if request.method == "POST":
            run = self._preview(request, source, form, problems)
            if run is not None:
                return redirect("admin:directory_syncrun_change", run.pk)
            status = 400
        context = {**self.admin_site.each_context(request), "opts": self.opts,
                   "title": f"Import a CSV into {source}", "source": source, "form": form,
                   "problems": problems, "columns": source.mapping(),
                   "required": required_attributes(source.mapping())[2:],
                   "max_kb": settings.DIRECTORY_CSV_MAX_BYTES // 1024}
        return TemplateResponse(request, "admin/directory/import.html", context, status=status)

    def _preview(self, request, source, form, problems: list[str]) -> SyncRun | None:
        if not form.is_valid():
            return None
        upload = form.cleaned_data["file"]
        limit = settings.DIRECTORY_CSV_MAX_BYTES
        try:
            records, lines = read_csv(upload.read(limit + 1), source.mapping(), limit)
            return workflow.preview_directory(
                source, records, request.user, complete=not form.cleaned_data["partial"],
                file_name=upload.name, lines=lines, request=request)
        except CsvRefused as refused:
            form.add_error("file", refused.message)
        except WorkflowError as refused:
            problems.extend(refused.data.get("problems", []))
            form.add_error(None, refused.message if not problems else
                           "Nothing was changed: fix these records and upload the file again.")
        return None


class CsvImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, one person a line, the first "
                           "line naming the columns.")
    partial = forms.BooleanField(
        required=False, label="The file lists only some people",
        help_text="Ticked: people of this source missing from the file are left alone. "
                  "Unticked: they are out of scope and deactivated.")


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source", "status", "started_at", "started_by", "created",
                    "changed", "deactivated", "confirmed_by")
    list_filter = ("status", "source")
    list_select_related = ("source", "started_by", "confirmed_by")
    change_form_template = "admin/directory/syncrun/change_form.html"
    fields = readonly_fields = (
        "source", "status", "complete", "file_name", "started_at", "started_by", "finished_at",
        "confirmed_by", "confirmed_at", "created", "changed", "deactivated", "unchanged",
        "warnings", "failure_reason")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # runs change only through the decisions below

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = get_object_or_404(SyncRun, pk=object_id)
        will_wait = run.status == SyncRun.Status.PREVIEWED and too_large(
            run.source, run.preview.get("touched", 0), run.preview.get("adopted", 0))
        extra = {"run": run, "preview": _described(run.preview, PREVIEW_LIMIT),
                 "will_wait": will_wait, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [*(path(f"<int:pk>/{decision}/", view(self.decide), {"decision": decision},
                       name=f"directory_syncrun_{decision}") for decision in self.DECISIONS),
                *super().get_urls()]

    DECISIONS = {"apply": workflow.apply_directory_run,
                 "confirm": workflow.confirm_directory_run,
                 "discard": workflow.discard_directory_run}

    def decide(self, request: HttpRequest, pk: int, decision: str) -> HttpResponse:
        """Apply, confirm or discard a run (POST): the workflow decides."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = get_object_or_404(SyncRun, pk=pk)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        try:
            run = self.DECISIONS[decision](run, request.user, request=request)
        except WorkflowError as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, f"{run}.")
        return redirect("admin:directory_syncrun_change", pk)


def _described(preview: dict, limit: int) -> dict:
    """The stored preview, with each change's lines in words and relations
    named (``new:<id>`` is a person this run creates)."""
    changes = preview.get("changes", [])
    pks = {ref for change in changes[:limit] for pair in change["relations"].values()
           for ref in pair if isinstance(ref, int)}
    names = {pk: str(identity) for pk, identity in Identity.objects.in_bulk(pks).items()}

    def name(ref) -> str:
        if ref is None:
            return "nobody"
        if isinstance(ref, str) and ref.startswith("new:"):
            return f"{ref[4:]} (new)"
        return names.get(ref, f"identity {ref}")

    described = []
    for change in changes[:limit]:
        lines = [f"{field.replace('_', ' ')}: {_text(old)} → {_text(new)}"
                 for field, (old, new) in change["fields"].items()]
        lines += [f"{relation}: {name(old)} → {name(new)}"
                  for relation, (old, new) in change["relations"].items()]
        lines += [_channel_words(channel) for channel in change["channels"]]
        if change["adopt"]:
            lines.insert(0, "taken over from the console")
        if change["reason"]:
            lines.append({"disabled": "disabled at the source", "deleted": "deleted at the "
                          "source", "out_of_scope": "no longer in the source (out of scope)"}
                         [change["reason"]] + ": access and channels revoked, open cases "
                         "cancelled")
        described.append({**change, "lines": lines})
    return {**preview, "changes": described, "hidden": max(0, len(changes) - limit)}


def _text(value) -> str:
    if value is None or value == "":
        return "—"
    return {True: "yes", False: "no"}.get(value, str(value)) if isinstance(value, bool) \
        else str(value)


def _channel_words(channel: dict) -> str:
    kind = channel["kind"]
    return {"add": f"{kind} channel added: {channel['address']}",
            "change": f"{kind} channel changed: {channel['old']} → {channel['address']}",
            "remove": f"{kind} channel revoked: {channel['old']}",
            "claim": f"{kind} channel {channel['address']} now from the directory"}[
        channel["action"]]


@admin.register(DirectoryClient)
class DirectoryClientAdmin(admin.ModelAdmin):
    """SCIM clients: a security admin creates one (its token shown once, on
    the page that follows) and revokes it; nothing else about it is edited."""

    list_display = ("name", "source", "created_at", "last_used_at", "revoked_at")
    list_filter = ("source",)
    fields = ("name", "source", "created_at", "created_by", "last_used_at", "revoked_at",
              "revoked_by")
    readonly_fields = ("created_at", "created_by", "last_used_at", "revoked_at", "revoked_by")
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields if obj is not None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # its calls are in the audit log: revoke it instead

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            client, token = workflow.create_directory_client(
                form.cleaned_data["name"], form.cleaned_data["source"], request.user,
                request=request)
        except WorkflowError as refused:
            raise PermissionDenied(refused.message) from None
        obj.pk, request.directory_client_token = client.pk, token

    def response_add(self, request, obj, post_url_continue=None):
        """The token, this once: it is kept only as a keyed hash."""
        context = {**self.admin_site.each_context(request), "opts": self.opts, "client": obj,
                   "title": f"The token of {obj}", "token": request.directory_client_token,
                   "base": f"{settings.SITE_URL}/scim/v2/"}
        response = TemplateResponse(request, "admin/directory/client_token.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected clients' tokens")
    def revoke(self, request: HttpRequest, queryset) -> None:
        for client in queryset:
            try:
                workflow.revoke_directory_client(client, request.user, request=request)
            except WorkflowError as refused:
                messages.error(request, refused.message)
                return
        messages.success(request, f"Revoked {queryset.count()} client(s).")
