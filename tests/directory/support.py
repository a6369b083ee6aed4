"""A CSV source with a mapping like an HR export's, and records for it."""

from __future__ import annotations

from recovery_console.directory.models import DirectorySource, MappingRule


def hr_source(name: str = "HR export", kind: str = "csv", **fields) -> DirectorySource:
    """Columns: id, name, department, groups, type, manager, sponsor, owner,
    email, mobile, phone, status."""
    source = DirectorySource.objects.create(name=name, kind=kind, enabled_attribute="status",
                                            **fields)
    rules = [("kind", "attribute", "contractor", "contractor", "type"),
             ("kind", "attribute", "partner", "partner", "type"),
             ("kind", "attribute", "service", "service_account", "type"),
             ("privileged", "group", "admins", "", ""),
             ("data_sensitivity", "department", "Finance", "high", ""),
             ("data_sensitivity", "group", "hr-data", "medium", "")]
    for position, (field, match_on, value, result, attribute) in enumerate(rules):
        MappingRule.objects.create(source=source, position=position, field=field,
                                   match_on=match_on, value=value, result=result,
                                   attribute=attribute)
    return source


def row(id_: str, name: str = "", **columns) -> dict:
    return {"id": id_, "name": name or f"Person {id_}", "email": f"{id_}@example.org",
            "mobile": "", "phone": "", "department": "", "groups": "", "type": "",
            "manager": "", "sponsor": "", "owner": "", "status": "active", **columns}


def ldap_source(url: str, password_env: str, name: str = "Corporate LDAP",
                **fields) -> DirectorySource:
    """An LDAP source for the test organisation (tests/directory/people.py):
    contractors and service accounts by OU, admins privileged, Finance high,
    locked accounts (the ppolicy overlay's administrative lock) disabled; a
    service account's ``manager`` is its owner."""
    from .people import READER_DN, SUFFIX

    settings = dict(
        kind="ldap", ldap_url=url, ldap_tls="none", ldap_bind_dn=READER_DN,
        ldap_password_env=password_env, ldap_base_dn=SUFFIX,
        ldap_filter="(objectClass=inetOrgPerson)", ldap_page_size=50,
        ldap_connect_timeout=5, ldap_receive_timeout=10,
        identifier_attribute="uid", external_id_attribute="entryUUID",
        display_name_attribute="cn", department_attribute="departmentNumber",
        groups_attribute="memberOf", dn_attribute="dn", manager_attribute="manager",
        sponsor_attribute="", owner_attribute="manager", email_attribute="mail",
        phone_attribute="", callback_phone_attribute="telephoneNumber",
        enabled_attribute="pwdAccountLockedTime", disabled_values="000001010000Z")
    settings.update(fields)
    source = DirectorySource.objects.create(name=name, **settings)
    rules = [("kind", "ou", "contractors", "contractor"),
             ("kind", "ou", "service-accounts", "service_account"),
             ("privileged", "group", "admins", ""),
             ("data_sensitivity", "department", "Finance", "high")]
    for position, (field, match_on, value, result) in enumerate(rules):
        MappingRule.objects.create(source=source, position=position, field=field,
                                   match_on=match_on, value=value, result=result)
    return source
