"""Reading a page's HTML as a tree of elements (the standard library's
parser, no browser): enough to check what a page's markup promises
assistive technology (labels and descriptions that point at real ids,
errors beside their fields)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict
    parent: Element | None = None
    children: list = field(default_factory=list)  # Elements and text

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    @property
    def classes(self) -> set[str]:
        return set((self.get("class") or "").split())

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def closest(self, tag: str | None = None, cls: str | None = None) -> Element | None:
        for node in (self, *self.ancestors()):
            if (tag is None or node.tag == tag) and (cls is None or cls in node.classes):
                return node
        return None

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def text(self) -> str:
        """The text inside, as a page reads it (whitespace collapsed)."""
        return " ".join(self._raw_text().split())

    def _raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c._raw_text() for c in self.children)

    def find_all(self, tag: str | None = None, **attrs) -> list[Element]:
        return [e for e in self.iter() if (tag is None or e.tag == tag)
                and all(e.get(k.replace("_", "-")) == v for k, v in attrs.items())]


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.open = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: (v if v is not None else "") for k, v in attrs}, self.open)
        self.open.children.append(element)
        if tag not in VOID:
            self.open = element

    def handle_startendtag(self, tag, attrs):
        self.open.children.append(
            Element(tag, {k: (v if v is not None else "") for k, v in attrs}, self.open))

    def handle_endtag(self, tag):
        node = self.open
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.open = node.parent

    def handle_data(self, data):
        self.open.children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


def title_of(document: Element) -> str:
    titles = document.find_all("title")
    return titles[0].text() if titles else ""


def broken_references(document: Element) -> list[str]:
    """Every promise a page makes about ids and does not keep: duplicate
    ids, and aria-describedby, aria-labelledby, label for and in-page links
    naming an id the page does not have."""
    elements = list(document.iter())
    ids = [e.get("id") for e in elements if e.get("id")]
    problems = [f"duplicate id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    known = set(ids)
    for e in elements:
        for attribute in ("aria-describedby", "aria-labelledby", "aria-controls"):
            for target in (e.get(attribute) or "").split():
                if target not in known:
                    problems.append(f"<{e.tag}> {attribute} names missing id {target!r}")
        if e.tag == "label" and e.get("for") and e.get("for") not in known:
            problems.append(f"<label> for names missing id {e.get('for')!r}")
        href = e.get("href") or ""
        if e.tag == "a" and href.startswith("#") and len(href) > 1 and href[1:] not in known:
            problems.append(f"link to missing id {href!r}")
    return problems


def misplaced_errors(document: Element) -> list[str]:
    """Errors that are not beside what they are about: a field marked
    invalid must name, in its description, an error inside its own field
    block that comes after it."""
    problems = []
    by_id = {e.get("id"): e for e in document.iter() if e.get("id")}
    for e in document.iter():
        if e.get("aria-invalid") != "true":
            continue
        block = e.closest(cls="field")
        described = [by_id.get(i) for i in (e.get("aria-describedby") or "").split()]
        if e.get("type") in ("radio", "checkbox") and block is not None:
            described += [by_id.get(i) for i in (block.get("aria-describedby") or "").split()]
        errors = [d for d in described if d is not None and "error" in d.classes and d.text()]
        if not errors:
            problems.append(f"<{e.tag} name={e.get('name')!r}> is invalid but describes no error")
            continue
        if block is None or any(block not in list(d.ancestors()) for d in errors):
            problems.append(f"error of {e.get('name')!r} is not inside its field's block")
            continue
        order = list(block.iter())
        if any(order.index(d) < order.index(e) for d in errors):
            problems.append(f"error of {e.get('name')!r} comes before its field, not under it")
    return problems
