"""The mapping and the plan are pure: records and the console's identities in,
changes out, the same for a CSV file, an LDAP pass or a SCIM call."""

from recovery_console.directory.mapping import (
    DELETED,
    Channel,
    Console,
    Existing,
    Mapping,
    Rule,
    desired_states,
    plan,
)

MAPPING = Mapping(
    identifier="id", display_name="name", department="department", groups="groups",
    dn="dn", manager="manager", sponsor="sponsor", owner="owner", email="email",
    phone="mobile", callback_phone="phone", enabled="status",
    rules=(
        Rule("kind", "ou", "Contractors", "contractor"),
        Rule("kind", "group", "Partners", "partner"),
        Rule("kind", "attribute", "service", "service_account", attribute="type"),
        Rule("privileged", "group", "Domain Admins"),
        Rule("privileged", "group", "Executives"),
        Rule("data_sensitivity", "department", "Finance", "high"),
        Rule("data_sensitivity", "group", "HR-Data", "medium"),
    ),
)


def person(id_, name="Ada Lovelace", **attrs):
    return {"id": id_, "name": name, **attrs}


def existing(pk, directory_id, source_id=1, **fields):
    values = dict(pk=pk, source_id=source_id, external_id=directory_id if source_id else "",
                  directory_id=directory_id, display_name="Ada Lovelace", kind="employee",
                  privileged=False, data_sensitivity="low", department="", directory_phone="",
                  is_active=True, source_name="HR export" if source_id else "")
    values.update(fields)
    return Existing(**values)


def run(records, identities=(), complete=True, mapping=MAPPING):
    desired, problems = desired_states(records, mapping)
    result = plan(desired, Console(source_id=1, identities=list(identities)), mapping,
                  complete=complete)
    result.problems[:0] = problems
    return result


def test_kind_comes_from_the_ou_a_group_or_an_attribute_and_defaults_to_employee():
    desired, problems = desired_states([
        person("c1", dn="uid=c1,ou=Contractors,dc=example,dc=org"),
        person("p1", groups="cn=Partners,ou=Groups,dc=example,dc=org"),
        person("s1", type="Service", owner="e1"),
        person("e1"),
    ], MAPPING)
    assert problems == []
    assert [d.kind for d in desired] == ["contractor", "partner", "service_account", "employee"]


def test_privileged_from_listed_groups_and_sensitivity_from_department_or_group():
    desired, _ = desired_states([
        person("a", groups=["CN=Domain Admins,OU=Groups,DC=corp"], department="Finance"),
        person("b", groups="Staff;HR-Data"),
        person("c", groups="Staff"),
    ], MAPPING)
    assert [(d.privileged, d.data_sensitivity) for d in desired] == [
        (True, "high"), (False, "medium"), (False, "low")]


def test_disabled_values_and_the_active_directory_flag_mark_a_record_disabled():
    desired, _ = desired_states([person("a", status="Disabled"), person("b", status="yes")],
                                MAPPING)
    assert [d.active for d in desired] == [False, True]
    ad = Mapping(identifier="id", display_name="name", enabled="userAccountControl",
                 disabled_flag=2)
    desired, _ = desired_states([person("a", userAccountControl="514"),
                                 person("b", userAccountControl="512")], ad)
    assert [d.active for d in desired] == [False, True]


def test_unusable_records_and_duplicates_are_problems_naming_the_record():
    _, problems = desired_states([
        person(""), person("ok"), person("OK"), person("bad\u200bid"),
        person("x", email="not-an-address"), person("y", name="Two\nlines"),
    ], MAPPING)
    messages = [str(p) for p in problems]
    assert messages[0].startswith("Record 1: the identifier (id) is empty")
    assert "Record 3: OK: the same identifier as record 2." in messages
    assert any(m.startswith("Record 4:") and "invisible" in m for m in messages)
    assert any(m.startswith("Record 5:") and "email" in m for m in messages)
    assert any(m.startswith("Record 6:") and "one line" in m for m in messages)


def test_a_new_record_is_a_create_with_its_channels_and_relations():
    result = run([person("e1", email="ada@example.org", mobile="+44 7700 900001",
                         manager="m1"), person("m1", "Mo Manager")])
    create = result.changes[0]
    assert create.action == "create"
    assert create.relations == {"manager": [None, "new:m1"]}
    assert [(c["kind"], c["action"]) for c in create.channels] == [("email", "add"),
                                                                   ("phone", "add")]


def test_unchanged_identity_gives_no_change_and_an_edit_at_the_source_a_change():
    console = [existing(1, "e1", channels=[Channel(9, "email", "ada@example.org", True, False)])]
    same = run([person("e1", email="ADA@example.org")], console)
    assert same.count("unchanged") == 1 and same.shown == []
    moved = run([person("e1", email="ada@new.example", dn="uid=e1,ou=Contractors,dc=x")],
                console)
    change = moved.changes[0]
    assert change.action == "change" and change.is_move
    assert change.fields["kind"] == ["employee", "contractor"]
    assert change.channels == [{"kind": "email", "action": "change", "channel": 9,
                                "address": "ada@new.example", "old": "ada@example.org"}]


def test_manager_sponsor_and_owner_resolve_by_source_id_or_identifier():
    console = [existing(1, "e1", manager=2), existing(2, "m1"), existing(3, "m2")]
    result = run([person("e1", manager="M2"), person("m1"), person("m2")], console)
    assert result.changes[0].relations == {"manager": [2, 3]}


def test_an_unknown_manager_is_a_warning_and_an_unowned_service_account_a_problem():
    result = run([person("e1", manager="nobody"), person("s1", type="service")])
    assert [str(w) for w in result.warnings] == [
        "Record 1: e1: the manager 'nobody' is not known; left empty."]
    assert any("service account needs a known owner" in str(p) for p in result.problems)


def test_disabled_deleted_and_missing_identities_are_deactivated_with_their_reason():
    console = [existing(1, "a"), existing(2, "b"), existing(3, "c"), existing(4, "d",
                                                                             is_active=False)]
    result = run([person("a", status="disabled"), {"id": "b", DELETED: True}], console)
    assert [(c.directory_id, c.action, c.reason) for c in result.shown] == [
        ("a", "deactivate", "disabled"), ("b", "deactivate", "deleted"),
        ("c", "deactivate", "out_of_scope")]


def test_an_incremental_pass_leaves_identities_it_does_not_carry_alone():
    result = run([person("a")], [existing(1, "a"), existing(2, "b")], complete=False)
    assert result.shown == []


def test_a_typed_in_identity_is_taken_over_and_a_channel_with_the_same_address_claimed():
    console = [existing(5, "e1", source_id=None,
                        channels=[Channel(7, "email", "ada@example.org", False, False)])]
    change = run([person("e1", email="ada@example.org")], console).changes[0]
    assert change.action == "change" and change.adopt
    assert change.channels == [{"kind": "email", "action": "claim", "channel": 7,
                                "address": "ada@example.org", "old": ""}]
    assert not change.touches  # taking over as it is changes nothing that matters


def test_an_identity_of_another_source_is_a_problem():
    result = run([person("e1")], [existing(5, "e1", source_id=2, source_name="LDAP")])
    assert [str(p) for p in result.problems] == [
        "Record 1: e1: managed by another source (LDAP)."]


def test_re_enabling_reactivates_but_a_revoked_channel_comes_back_only_as_a_new_one():
    console = [existing(1, "a", is_active=False,
                        channels=[Channel(9, "email", "a@example.org", True, True)])]
    change = run([person("a", email="a@example.org")], console).changes[0]
    assert change.fields["is_active"] == [False, True]
    assert change.channels[0]["action"] == "add"


def test_the_fingerprint_changes_with_any_change_and_the_preview_masks_addresses():
    one = run([person("e1", email="ada@example.org")])
    two = run([person("e1", email="ada2@example.org")])
    assert one.fingerprint != two.fingerprint
    assert one.as_json(masked=True)["changes"][0]["channels"][0]["address"] == "a***@example.org"


def test_a_channel_address_with_an_invisible_character_is_a_problem():
    _, problems = desired_states([person("a", mobile="+44 7700\u200b900001")], MAPPING)
    assert problems and "invisible" in str(problems[0])


def test_a_record_disabled_at_the_source_and_unknown_here_is_not_created():
    assert run([person("a", status="disabled"), {"id": "b", DELETED: True}]).changes == []
