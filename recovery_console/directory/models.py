"""Directory sources, their mapping (data), and the runs that applied them."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from accounts.validators import validate_no_control_characters

from ..machine_clients import MachineClient

ONE_LINE = [validate_no_control_characters]
KINDS = ("employee", "contractor", "partner", "service_account")  # accounts.Identity.Kind
LEVELS = ("low", "medium", "high")  # accounts.Identity.Sensitivity


def attribute(verbose: str, default: str = "", help_text: str = "") -> models.CharField:
    return models.CharField(verbose, max_length=100, blank=True, default=default,
                            validators=ONE_LINE, help_text=help_text)


class DirectorySource(models.Model):
    """Where identities come from, and how the source's attributes map onto
    them. An attribute left empty is not managed by this source: the field
    stays editable in the console."""

    class Kind(models.TextChoices):
        CSV = "csv", "CSV import"
        LDAP = "ldap", "LDAP / Active Directory"
        SCIM = "scim", "SCIM 2.0 provisioning"

    name = models.CharField(max_length=100, unique=True, validators=ONE_LINE)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(default=True, help_text="A disabled source runs nothing.")

    external_id_attribute = attribute(
        "source id attribute", help_text="The record's stable id at the source (LDAP "
        "entryUUID / objectGUID, SCIM id). Empty: the identifier attribute.")
    identifier_attribute = attribute("identifier attribute", "id",
                                     "Gives the directory id (required).")
    display_name_attribute = attribute("display name attribute", "name")
    department_attribute = attribute("department attribute", "department")
    groups_attribute = attribute("groups attribute", "groups",
                                 "Group memberships (names or DNs), for the rules below.")
    dn_attribute = attribute("DN attribute", "", "The entry's distinguished name, for OU rules.")
    manager_attribute = attribute("manager attribute", "manager",
                                  "The manager's source id or identifier.")
    sponsor_attribute = attribute("sponsor attribute", "sponsor")
    owner_attribute = attribute("owner attribute", "owner",
                                "Service accounts: the owner's source id or identifier.")
    email_attribute = attribute("email channel attribute", "email")
    phone_attribute = attribute("phone channel attribute", "mobile")
    callback_phone_attribute = attribute("callback phone attribute", "phone",
                                         "The number agents call back.")
    enabled_attribute = attribute(
        "enabled attribute", "", "Empty: every record is enabled. Otherwise the record is "
        "disabled when this attribute holds one of the disabled values.")
    disabled_values = models.CharField(
        max_length=200, blank=True, default="false, 0, no, disabled, inactive",
        validators=ONE_LINE, help_text="Comma-separated, any letter case.")
    disabled_flag = models.PositiveIntegerField(
        null=True, blank=True, help_text="Active Directory: the enabled attribute is "
        "userAccountControl and this bit (2) set means disabled.")
    value_separator = models.CharField(
        max_length=3, default=";", help_text="Separates several values in one CSV cell.")
    default_kind = models.CharField(max_length=20, default="employee",
                                    choices=[(k, k.replace("_", " ")) for k in KINDS])

    # LDAP / Active Directory (kind ldap): where to read, as whom, and how.
    # The password itself is never stored: only the NAME of the environment
    # variable that holds it in the worker's environment.
    class Tls(models.TextChoices):
        LDAPS = "ldaps", "LDAPS (ldaps:// URL)"
        STARTTLS = "starttls", "StartTLS on ldap://"
        NONE = "none", "None: plain ldap:// (a directory on this host only)"

    ldap_url = models.CharField(
        "URL", max_length=200, blank=True, validators=[*ONE_LINE, RegexValidator(
            r"^ldaps?://[^\s/]+(:\d+)?/?$", "An ldap:// or ldaps:// URL, host and port.")],
        help_text="ldaps://dc1.corp.example.com or ldap://ldap.example.org:389 "
                  "(for Active Directory, one domain controller's own name).")
    ldap_bind_dn = models.CharField("bind DN", max_length=300, blank=True,
                                    validators=ONE_LINE, help_text="A read-only service "
                                    "account, e.g. cn=console-reader,ou=system,dc=example,dc=org.")
    ldap_password_env = models.CharField(
        "password environment variable", max_length=100, blank=True, validators=[
            RegexValidator(r"^[A-Za-z_][A-Za-z0-9_]*$", "The NAME of an environment variable "
                           "(letters, digits, underscores), never the password.")],
        help_text="The name of the environment variable that holds the bind password on the "
                  "workers, e.g. DIRECTORY_LDAP_PASSWORD. The password is never stored here.")
    ldap_base_dn = models.CharField("base DN", max_length=300, blank=True, validators=ONE_LINE,
                                    help_text="Where the people are, e.g. ou=people,dc=example,"
                                    "dc=org (Active Directory: the OU, not the domain root).")
    ldap_filter = models.CharField(
        "filter", max_length=500, blank=True, default="(objectClass=inetOrgPerson)",
        validators=ONE_LINE, help_text="Active Directory: (&(objectCategory=person)"
        "(objectClass=user)).")
    ldap_watermark_attribute = models.CharField(
        "watermark attribute", max_length=20, default="modifyTimestamp",
        choices=[("modifyTimestamp", "modifyTimestamp (OpenLDAP and others)"),
                 ("uSNChanged", "uSNChanged (Active Directory)")],
        help_text="What incremental passes resume from.")
    ldap_tls = models.CharField("TLS", max_length=10, choices=Tls.choices, default=Tls.LDAPS)
    ldap_ca_file = models.CharField(
        "CA file", max_length=300, blank=True, validators=ONE_LINE,
        help_text="Path of the CA bundle that signed the server's certificate, when the "
                  "system does not trust it. The certificate and host name are always checked.")
    ldap_page_size = models.PositiveIntegerField(
        "page size", default=500, validators=[MinValueValidator(1), MaxValueValidator(5000)],
        help_text="At most the server's page limit (Active Directory: MaxPageSize, 1000).")
    ldap_connect_timeout = models.PositiveIntegerField(
        "connect timeout (s)", default=10, validators=[MinValueValidator(1),
                                                         MaxValueValidator(300)])
    ldap_receive_timeout = models.PositiveIntegerField(
        "answer timeout (s)", default=60, validators=[MinValueValidator(1),
                                                        MaxValueValidator(3600)],
        help_text="The longest wait for any one answer of the server.")
    ldap_max_seconds = models.PositiveIntegerField(
        "whole read limit (s)", default=1800, validators=[MinValueValidator(10),
                                                           MaxValueValidator(6 * 3600)])
    # Kept by the sync, not edited: where the next incremental pass resumes,
    # and the ids the last full pass saw (an id gone from the next one was
    # deleted at the source or left the filter).
    ldap_watermark = models.CharField(max_length=300, blank=True, editable=False)
    ldap_seen_ids = models.JSONField(null=True, blank=True, editable=False)
    ldap_last_full_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    MANAGED_BY_ATTRIBUTE = {
        "display_name_attribute": ("display_name",),
        "department_attribute": ("department",),
        "manager_attribute": ("manager",),
        "sponsor_attribute": ("sponsor",),
        "owner_attribute": ("owner",),
        "callback_phone_attribute": ("directory_phone",),
    }

    def managed_fields(self) -> list[str]:
        """The Identity fields this source decides (read-only in the admin)."""
        fields = ["directory_id", "kind", "privileged", "data_sensitivity", "is_active"]
        for name, managed in self.MANAGED_BY_ATTRIBUTE.items():
            if getattr(self, name):
                fields.extend(managed)
        return fields

    def mapping(self):
        """The mapping as plain data, for ``mapping.plan`` (rules in order)."""
        from .mapping import Mapping, Rule

        rules = tuple(Rule(field=r.field, match_on=r.match_on, value=r.value,
                           result=r.result.strip().lower(), attribute=r.attribute)
                      for r in self.rules.order_by("position", "pk"))
        return Mapping(
            identifier=self.identifier_attribute, display_name=self.display_name_attribute,
            external_id=self.external_id_attribute, department=self.department_attribute,
            groups=self.groups_attribute, dn=self.dn_attribute,
            manager=self.manager_attribute, sponsor=self.sponsor_attribute,
            owner=self.owner_attribute, email=self.email_attribute,
            phone=self.phone_attribute, callback_phone=self.callback_phone_attribute,
            enabled=self.enabled_attribute,
            disabled_values=frozenset(v.strip().lower() for v in self.disabled_values.split(",")
                                      if v.strip()),
            disabled_flag=self.disabled_flag, separator=self.value_separator,
            default_kind=self.default_kind, rules=rules)

    def clean(self):
        super().clean()
        if not self.identifier_attribute:
            raise ValidationError({"identifier_attribute": "Name the attribute that gives "
                                   "the directory id."})
        if not self.display_name_attribute:
            raise ValidationError({"display_name_attribute": "Name the attribute that gives "
                                   "the display name."})
        if self.disabled_flag is not None and not self.enabled_attribute:
            raise ValidationError({"disabled_flag": "A flag needs the enabled attribute."})
        if self.kind == self.Kind.LDAP:
            self._clean_ldap()

    def _clean_ldap(self) -> None:
        missing = {name: "Required for an LDAP source." for name in (
            "ldap_url", "ldap_bind_dn", "ldap_password_env", "ldap_base_dn", "ldap_filter",
            "external_id_attribute") if not getattr(self, name)}
        if missing:
            raise ValidationError(missing)
        ldaps = self.ldap_url.lower().startswith("ldaps://")
        if ldaps != (self.ldap_tls == self.Tls.LDAPS):
            raise ValidationError({"ldap_tls": "LDAPS needs an ldaps:// URL; StartTLS and "
                                   "none an ldap:// URL."})
        if not (self.ldap_filter.startswith("(") and self.ldap_filter.endswith(")")):
            raise ValidationError({"ldap_filter": "An LDAP filter in parentheses, e.g. "
                                   "(objectClass=inetOrgPerson)."})

    def ldap_config(self):
        """How ``ldap.read`` reaches this source: the attributes its mapping
        reads, its membership groups watched for incremental passes."""
        from .ldap import LdapConfig
        from .mapping import required_attributes

        mapping = self.mapping()
        groups_key = self.groups_attribute or "memberOf"
        special = {"dn", self.external_id_attribute.lower(), groups_key.lower()}
        attributes = tuple(name for name in required_attributes(mapping)
                           if name.lower() not in special)
        watched = tuple(rule.value for rule in mapping.rules if rule.match_on == "group")
        dn_references = tuple(dict.fromkeys(
            name for name in (self.manager_attribute, self.sponsor_attribute,
                              self.owner_attribute) if name))
        return LdapConfig(
            url=self.ldap_url, bind_dn=self.ldap_bind_dn, password_env=self.ldap_password_env,
            base_dn=self.ldap_base_dn, filter=self.ldap_filter, attributes=attributes,
            id_attribute=self.external_id_attribute,
            watermark_attribute=self.ldap_watermark_attribute,
            start_tls=self.ldap_tls == self.Tls.STARTTLS, ca_file=self.ldap_ca_file,
            page_size=self.ldap_page_size, connect_timeout=float(self.ldap_connect_timeout),
            receive_timeout=self.ldap_receive_timeout, max_seconds=float(self.ldap_max_seconds),
            groups_key=groups_key, watched_groups=watched, dn_references=dn_references)


class MappingRule(models.Model):
    """One rule of a source's mapping: when a record matches, the field gets
    the result. Kind and sensitivity: the first matching rule in position
    order wins (else the source's default kind, low sensitivity);
    privileged: any matching rule makes the identity privileged."""

    class Field(models.TextChoices):
        KIND = "kind", "kind"
        PRIVILEGED = "privileged", "privileged"
        SENSITIVITY = "data_sensitivity", "data sensitivity"

    class MatchOn(models.TextChoices):
        GROUP = "group", "member of group"
        OU = "ou", "in organisational unit"
        DEPARTMENT = "department", "department is"
        ATTRIBUTE = "attribute", "attribute value is"

    source = models.ForeignKey(DirectorySource, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveSmallIntegerField(default=0)
    field = models.CharField(max_length=20, choices=Field.choices)
    match_on = models.CharField(max_length=12, choices=MatchOn.choices)
    attribute = models.CharField(max_length=100, blank=True, validators=ONE_LINE,
                                 help_text="Only for 'attribute value is'.")
    value = models.CharField(max_length=300, validators=ONE_LINE,
                             help_text="Compared ignoring letter case; a group may be "
                             "given by name or DN.")
    result = models.CharField(
        max_length=20, blank=True, help_text="Kind: employee, contractor, partner or "
        "service_account. Sensitivity: low, medium or high. Privileged: leave empty.")

    class Meta:
        ordering = ["source", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.get_field_display()} when {self.get_match_on_display()} {self.value}"

    def clean(self):
        super().clean()
        if self.match_on == self.MatchOn.ATTRIBUTE and not self.attribute:
            raise ValidationError({"attribute": "Name the attribute to compare."})
        allowed = {self.Field.KIND: KINDS, self.Field.SENSITIVITY: LEVELS,
                   self.Field.PRIVILEGED: ("", "yes", "true")}.get(self.field, ())
        if self.result.strip().lower() not in allowed:
            raise ValidationError({"result": "For this field the result is one of: "
                                   + ", ".join(v or "(empty)" for v in allowed) + "."})


class SyncRun(models.Model):
    """One pass of a source over the console: what it planned (the preview),
    whether it waited for a security admin, what it applied or why it failed."""

    class Status(models.TextChoices):
        PREVIEWED = "previewed", "Previewed, not applied"
        RUNNING = "running", "Running"
        WAITING = "waiting_for_confirmation", "Waiting for a security admin"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"

    source = models.ForeignKey(DirectorySource, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.RUNNING)
    complete = models.BooleanField(
        default=True, help_text="A full pass: an identity of the source missing from it is "
        "out of scope and deactivated. Incremental passes only touch what they carry.")
    file_name = models.CharField(max_length=200, blank=True, validators=ONE_LINE)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    deactivated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    failure_reason = models.TextField(blank=True)
    # What the run would do, as shown to the security admin, and its digest:
    # applying re-plans from ``records`` and refuses if the digest moved.
    preview = models.JSONField(default=dict, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    # The source's records, kept only while the run may still be applied.
    records = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["source", "status"])]

    def __str__(self) -> str:
        return f"{self.source} run {self.pk} ({self.get_status_display().lower()})"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.PREVIEWED, self.Status.WAITING)


class DirectoryClient(MachineClient):
    """A SCIM client (Entra ID, Okta, another provisioning service) that may
    write one source's identities, and only those, with its bearer token.
    The token is shown once when a security admin creates the client; only
    its keyed hash (``tokens.digest``) is kept."""

    source = models.ForeignKey(DirectorySource, on_delete=models.PROTECT, related_name="clients",
                               limit_choices_to={"kind": DirectorySource.Kind.SCIM},
                               help_text="The source this client writes: its scope.")
    token_digest = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ScimUser(models.Model):
    """A user a SCIM client provisioned: the resource as the client last
    wrote it (a PATCH merges onto it), and the identity the mapping made of
    it (none while the user is inactive and was never active)."""

    source = models.ForeignKey(DirectorySource, on_delete=models.PROTECT,
                               related_name="scim_users")
    # The SCIM ``id``, and the identity's id at the source (``external_id``).
    scim_id = models.UUIDField(unique=True, editable=False)
    identity = models.OneToOneField("accounts.Identity", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="scim_user")
    user_name = models.CharField(max_length=255)
    user_name_key = models.TextField(editable=False)  # accounts.identifiers.canonical
    external_id = models.CharField(max_length=255, blank=True)
    resource = models.JSONField(default=dict)  # without id, meta and password
    # The resource's ``active``, kept beside it so ``filter=active eq ...`` is indexed.
    active = models.BooleanField(default=True, editable=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["source", "external_id"]),
            # A list page's ids in order, read from the index alone (bench/scim_list.py).
            models.Index(fields=["source", "id"], condition=models.Q(deleted_at__isnull=True),
                         name="scim_user_page_idx"),
            models.Index(fields=["source", "active", "id"],
                         condition=models.Q(deleted_at__isnull=True),
                         name="scim_user_active_page_idx"),
            # ``userName sw "..."``: a prefix search, whatever the database's collation.
            models.Index(fields=["user_name_key"], opclasses=["text_pattern_ops"],
                         condition=models.Q(deleted_at__isnull=True),
                         name="scim_user_name_prefix_idx"),
        ]
        constraints = [models.UniqueConstraint(
            fields=["source", "user_name_key"], condition=models.Q(deleted_at__isnull=True),
            name="one_scim_user_name_per_source")]

    def __str__(self) -> str:
        return self.user_name


class ScimGroup(models.Model):
    """A group a SCIM client provisioned. Its members' records carry its
    display name in ``groups``, which the source's group rules read
    (privileged, kind, sensitivity)."""

    source = models.ForeignKey(DirectorySource, on_delete=models.PROTECT,
                               related_name="scim_groups")
    scim_id = models.UUIDField(unique=True, editable=False)
    display_name = models.CharField(max_length=255)
    display_key = models.TextField(editable=False)  # accounts.identifiers.canonical
    external_id = models.CharField(max_length=255, blank=True)
    members = models.ManyToManyField(ScimUser, blank=True, related_name="groups")
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["source", "external_id"])]
        constraints = [models.UniqueConstraint(
            fields=["source", "display_key"], condition=models.Q(deleted_at__isnull=True),
            name="one_scim_group_name_per_source")]

    def __str__(self) -> str:
        return self.display_name


class GroupMembership(models.Model):
    """A group an identity belongs to at its source, as the last run read
    it: what a rollout cohort's "directory group" rule matches."""

    identity = models.ForeignKey("accounts.Identity", on_delete=models.CASCADE,
                                 related_name="directory_groups")
    name = models.CharField(max_length=255)
    key = models.TextField(editable=False)  # accounts.identifiers.canonical(name)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity", "key"],
                                               name="one_membership_per_group")]
        indexes = [models.Index(fields=["key"])]

    def __str__(self) -> str:
        return self.name
