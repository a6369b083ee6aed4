"""A generated organisation as an OpenLDAP directory would hold it.

``generate(n)`` makes ``n`` accounts under ``dc=example,dc=org``: employees in
``ou=people`` (a CEO, department heads, team leads, staff, each with a
``manager`` DN), contractors in ``ou=contractors``, service accounts in
``ou=service-accounts`` (their ``manager`` is their owner), about 3 % of them
disabled the OpenLDAP way (``pwdAccountLockedTime: 000001010000Z``, the
password policy overlay's administrative lock), and ``groupOfNames`` groups:
``admins``, ``executives``, ``helpdesk``, one per department, and
``privileged`` whose members include the ``admins`` group (nesting).

``Directory.write_ldif`` streams it for ``slapadd`` (which runs no overlay,
so it writes each person's ``memberOf`` and the timestamps itself); the
same data, as Python objects, is what the tests compare the reader's
records with.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO

SUFFIX = "dc=example,dc=org"
PEOPLE = f"ou=people,{SUFFIX}"
CONTRACTORS = f"ou=contractors,{SUFFIX}"
SERVICES = f"ou=service-accounts,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SYSTEM = f"ou=system,{SUFFIX}"

ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-for-tests"
READER_DN = f"cn=console-reader,{SYSTEM}"
READER_PASSWORD = "reader-secret-for-tests"
# A reader the server caps at LIMITED_SIZE entries a search (size limit tests).
LIMITED_DN = f"cn=limited-reader,{SYSTEM}"
LIMITED_PASSWORD = "limited-secret-for-tests"
LIMITED_SIZE = 10

LOCKED = "000001010000Z"  # ppolicy: locked by an administrator until unlocked
# Loaded entries were last changed in the past, a minute apart in the order
# generated (a real directory's timestamps are spread, not all one second).
LOADED_FROM = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)
LOADED_AT = LOADED_FROM.strftime("%Y%m%d%H%M%SZ")

DEPARTMENTS = ("Engineering", "Finance", "Sales", "Support", "People", "Legal",
               "Operations", "Marketing")
FIRST = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia",
         "Leslie", "Margaret", "Niklaus", "Shafi", "Tim", "Whitfield", "Yukihiro", "Sophie",
         "Kofi", "Ingrid", "Mateus", "Amara", "Chen", "Priya", "Olga", "Tomás", "Zainab")
LAST = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
        "Perlman", "Lamport", "Hamilton", "Wirth", "Goldwasser", "Berners-Lee", "Diffie",
        "Matsumoto", "Wilson", "Annan", "Daubechies", "Silva", "Okafor", "Wei", "Raman",
        "Ivanova", "García", "Haddad")


@dataclass
class Person:
    uid: str
    ou: str  # the DN of the OU the entry lives in
    cn: str
    given_name: str
    surname: str
    mail: str
    phone: str
    department: str
    employee_type: str  # employee, contractor, service
    manager: str = ""  # a DN
    disabled: bool = False
    modified: str = LOADED_AT  # modifyTimestamp as loaded
    groups: list[str] = field(default_factory=list)  # DNs of the groups it is a direct member of

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{self.ou}"

    @property
    def id(self) -> str:
        return entry_uuid(self.dn)

    def entry(self, *, memberof: bool) -> list[tuple[str, str]]:
        lines = [("objectClass", "inetOrgPerson"), ("uid", self.uid), ("cn", self.cn),
                 ("givenName", self.given_name), ("sn", self.surname), ("mail", self.mail),
                 ("telephoneNumber", self.phone), ("departmentNumber", self.department),
                 ("employeeType", self.employee_type)]
        if self.manager:
            lines.append(("manager", self.manager))
        if self.disabled:
            lines.append(("pwdAccountLockedTime", LOCKED))
        if memberof:
            lines += [("memberOf", group) for group in self.groups]
        return lines + _stamps(self.modified)


@dataclass
class Group:
    cn: str
    members: list[str] = field(default_factory=list)  # DNs (people or groups)

    @property
    def dn(self) -> str:
        return f"cn={self.cn},{GROUPS}"


@dataclass
class Directory:
    people: list[Person]
    groups: dict[str, Group]

    def person(self, uid: str) -> Person:
        return next(p for p in self.people if p.uid == uid)

    def write_ldif(self, out: IO[str], *, memberof: bool = True) -> None:
        """The whole directory as LDIF for slapadd (parents before children),
        each entry with its ``entry_uuid`` (the same on every load)."""
        for dn, attributes in self._entries(memberof=memberof):
            out.write(_ldif(dn, [*attributes, ("entryUUID", entry_uuid(dn))]))

    def _entries(self, *, memberof: bool) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        yield SUFFIX, [("objectClass", "dcObject"), ("objectClass", "organization"),
                       ("dc", "example"), ("o", "Example Org"), *_stamps()]
        for ou in (PEOPLE, CONTRACTORS, SERVICES, GROUPS, SYSTEM):
            name = ou.split(",", 1)[0].split("=", 1)[1]
            yield ou, [("objectClass", "organizationalUnit"), ("ou", name), *_stamps()]
        for dn, password in ((READER_DN, READER_PASSWORD), (LIMITED_DN, LIMITED_PASSWORD)):
            yield dn, [("objectClass", "organizationalRole"),
                       ("objectClass", "simpleSecurityObject"),
                       ("cn", dn.split(",", 1)[0][3:]), ("userPassword", password), *_stamps()]
        for person in self.people:
            yield person.dn, person.entry(memberof=memberof)
        for group in self.groups.values():
            yield group.dn, [("objectClass", "groupOfNames"), ("cn", group.cn),
                             *(("member", member) for member in group.members), *_stamps()]


def entry_uuid(dn: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ldap:///{dn.lower()}"))


def _stamps(timestamp: str = LOADED_AT) -> list[tuple[str, str]]:
    return [("createTimestamp", timestamp), ("modifyTimestamp", timestamp)]


def _ldif(dn: str, attributes: list[tuple[str, str]]) -> str:
    lines = [_line("dn", dn)] + [_line(name, value) for name, value in attributes]
    return "\n".join(lines) + "\n\n"


def _line(name: str, value: str) -> str:
    if value.isascii() and not value.startswith((" ", ":", "<")):
        return f"{name}: {value}"
    import base64

    return f"{name}:: {base64.b64encode(value.encode()).decode()}"


def generate(n: int, seed: int = 18) -> Directory:
    """``n`` accounts (at least 50): about 87 % employees, 10 % contractors,
    3 % service accounts; about 3 % of people disabled."""
    assert n >= 50
    rng = random.Random(seed)
    services = max(2, n * 3 // 100)
    contractors = max(2, n // 10)
    employees = n - services - contractors
    people: list[Person] = []

    def make(i: int, ou: str, employee_type: str, department: str) -> Person:
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        uid = f"{first[0]}{last}{i}".lower().replace("á", "a").replace("í", "i")
        uid = uid.replace("-", "").replace("ç", "c")
        return Person(uid=uid, ou=ou, cn=f"{first} {last}", given_name=first, surname=last,
                      mail=f"{uid}@example.org", phone=f"+44 20 7946 {i % 10000:04d}",
                      department=department, employee_type=employee_type)

    ceo = make(0, PEOPLE, "employee", "Operations")
    people.append(ceo)
    heads = {}
    for d, department in enumerate(DEPARTMENTS):
        heads[department] = make(1 + d, PEOPLE, "employee", department)
        heads[department].manager = ceo.dn
        people.append(heads[department])
    leads: dict[str, list[Person]] = {d: [] for d in DEPARTMENTS}
    for i in range(len(people), employees):
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        person = make(i, PEOPLE, "employee", department)
        if len(leads[department]) < max(1, employees // 80):
            person.manager = heads[department].dn
            leads[department].append(person)
        else:
            person.manager = rng.choice(leads[department]).dn
        people.append(person)
    for i in range(employees, employees + contractors):
        department = DEPARTMENTS[i % len(DEPARTMENTS)]
        person = make(i, CONTRACTORS, "contractor", department)
        person.manager = rng.choice(leads[department]).dn  # their sponsor inside
        people.append(person)
    for i in range(employees + contractors, n):
        person = make(i, SERVICES, "service", "Operations")
        person.uid = f"svc-{person.uid}"
        person.mail = f"{person.uid}@example.org"
        person.cn = f"Service {i}"
        person.manager = rng.choice(leads["Engineering"]).dn  # its owner
        people.append(person)
    for i, person in enumerate(people):
        person.modified = (LOADED_FROM + timedelta(minutes=i)).strftime("%Y%m%d%H%M%SZ")
    for person in rng.sample(people[1 + len(DEPARTMENTS):], max(1, n * 3 // 100)):
        person.disabled = True

    groups = {name: Group(name) for name in ("admins", "executives", "helpdesk", "privileged")}
    for department in DEPARTMENTS:
        groups[f"dept-{department.lower()}"] = Group(f"dept-{department.lower()}")

    def join(group: Group, person_or_group: Person | Group) -> None:
        group.members.append(person_or_group.dn)
        if isinstance(person_or_group, Person):
            person_or_group.groups.append(group.dn)

    for person in [ceo, *heads.values()]:
        join(groups["executives"], person)
    engineers = [p for p in people if p.department == "Engineering" and p.ou != SERVICES]
    for person in engineers[:max(2, n // 500)]:
        join(groups["admins"], person)
    support = [p for p in people if p.department == "Support"]
    for person in support[:max(2, n // 100)]:
        join(groups["helpdesk"], person)
    join(groups["privileged"], groups["admins"])
    join(groups["privileged"], heads["Legal"])
    for person in people:
        if person.ou != SERVICES:
            join(groups[f"dept-{person.department.lower()}"], person)
    return Directory(people=people, groups=groups)
