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
