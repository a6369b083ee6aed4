"""The reset queue's table: its columns (the header cells are built here, in
one place), which of them sort, the links that sort them (keeping the
search, the filters and nothing of the page number) and how the current
sort reads in words."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.http import QueryDict
from django.urls import reverse

# A case number no case has, reversed in place of each row's own.
_PLACEHOLDER = 918273645


@dataclass(frozen=True)
class Column:
    label: str
    sort: str = ""  # its key in selectors.QUEUE_SORTS; "" when it does not sort
    first: str = ""  # "-" when the first click sorts it descending
    hidden_label: bool = False  # a column of controls: its name is for screen readers


COLUMNS = (
    Column("Case"),
    Column("Person"),
    Column("Kind"),
    Column("Tier", "tier", first="-"),  # restricted first
    Column("State", "state"),
    Column("Agent"),
    Column("Opened", "opened"),  # oldest first
    Column("Deadline", "deadline"),  # nearest first
    Column("Actions", hidden_label=True),
)

# Before the others when the viewer may act on several cases at once.
SELECT = Column("Select", hidden_label=True)

# Each sort in words: (ascending, descending).
SORT_WORDS = {
    "opened": ("oldest first", "newest first"),
    "deadline": ("nearest deadline first", "furthest deadline first"),
    "tier": ("lowest tier first", "highest tier first"),
    "state": ("in workflow order, new first", "in reverse workflow order"),
}
DEFAULT_SORT_WORDS = "urgent (repudiated) cases first, then oldest first"


@dataclass(frozen=True)
class Header:
    column: Column
    href: str = ""  # the link that sorts by this column ("" if it does not sort)
    aria_sort: str = ""  # "ascending" or "descending" on the column sorted by
    action: str = ""  # what following the link does, for screen readers

    @property
    def marker(self) -> str:
        return {"ascending": "▲", "descending": "▼"}.get(self.aria_sort, "")


def _kept(query: QueryDict) -> QueryDict:
    """The parameters a new order or a cleared search keeps: all but the page
    number and the empty ones (a submitted form sends every field)."""
    kept = QueryDict(mutable=True)
    for name, values in query.lists():
        if name != "page" and any(values):
            kept.setlist(name, [v for v in values if v])
    return kept


def _words(sort: str) -> str:
    ascending, descending = SORT_WORDS[sort.removeprefix("-")]
    return descending if sort.startswith("-") else ascending


def headers(query: QueryDict, sort: str, *, bulk: bool = False) -> list[Header]:
    """The header cells (with the select column when ``bulk``): a sortable
    column links to itself sorted its first way, or, when it is the sort
    now, the other way round."""
    made = []
    for column in ((SELECT,) if bulk else ()) + COLUMNS:
        if not column.sort:
            made.append(Header(column))
            continue
        current = sort.removeprefix("-") == column.sort
        descending = sort.startswith("-")
        if current:
            target = column.sort if descending else f"-{column.sort}"
        else:
            target = f"{column.first}{column.sort}"
        link = _kept(query)
        link["sort"] = target
        made.append(Header(
            column, href=f"?{link.urlencode()}",
            aria_sort=("descending" if descending else "ascending") if current else "",
            action=f"sort {_words(target)}"))
    return made


def sort_description(sort: str) -> str:
    """The current order in words, for the table's caption."""
    if sort.removeprefix("-") not in SORT_WORDS:
        return f"Sorted {DEFAULT_SORT_WORDS}"
    column = next(c for c in COLUMNS if c.sort == sort.removeprefix("-"))
    return f"Sorted by {column.label.lower()}, {_words(sort)}"


def table_context(query: QueryDict, sort: str, *, bulk: bool = False) -> dict:
    """What the template needs beside the cases: the header cells, the order
    in words, and the link that clears the search but keeps the rest."""
    unsearched = _kept(query)
    unsearched.pop("q", None)
    return {"headers": headers(query, sort, bulk=bulk), "sorted_by": sort_description(sort),
            "unsearched": f"?{unsearched.urlencode()}"}


def _path_for_each(name: str) -> Callable[[int], str]:
    """``reverse(name, args=[pk])`` for every row at the cost of one reverse."""
    before, after = reverse(name, args=[_PLACEHOLDER]).split(str(_PLACEHOLDER))
    return lambda pk: f"{before}{pk}{after}"


def link_rows(cases: Iterable) -> None:
    """Set on each listed case the links its row offers: the case page
    (``url``) and claiming it (``claim_url``)."""
    case_path, claim_path = _path_for_each("recovery:case"), _path_for_each("recovery:claim")
    for case in cases:
        case.url, case.claim_url = case_path(case.pk), claim_path(case.pk)
