"""The error summary's name for each refused field, read from the page as it was rendered.

base.html renders a page's content before its error summary and asks `field_names` what each link
target is called: the text of the field's `<label>`, the legend of a group (a fieldset the link leads
to, or the group of a radio button), a heading, or an `aria-label`. So every form, whether its fields
come from a macro or are written by hand, names its fields in the summary in the page's language, with
no second list of labels to keep in step. A name repeated on the page (the same field in each row of
a repeated group) comes with the legend of the group it is in ("Investor 2"), where there is one.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import NamedTuple

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"})
# Text in these is not part of a label: the options of a select, the value of a text box, code.
_MUTED = frozenset({"select", "option", "optgroup", "datalist", "textarea", "script", "style", "template"})
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_LABELABLE = frozenset({"input", "select", "textarea", "meter", "output", "progress"})


class FieldName(NamedTuple):
    label: str  # what the page calls the field
    group: str | None  # the legend of its group, when the label alone is not unique on the page


class _Group:
    """A fieldset: its first legend names it."""

    def __init__(self) -> None:
        self.legend: list[str] = []
        self.named = False

    @property
    def text(self) -> str:
        return _clean(self.legend)


class _Target(NamedTuple):
    tag: str
    kind: str  # an input's type
    groups: tuple[_Group, ...]  # the fieldsets around it, the innermost last (itself, for a fieldset)
    aria_label: str


def _clean(parts: list[str]) -> str:
    return " ".join("".join(parts).split())


class _Reader(HTMLParser):
    """Collects the elements with an id, their labels, the legends of fieldsets and headings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[tuple[str, list[str] | None]] = []  # open elements and the text each collects
        self.groups: list[_Group] = []
        self.targets: dict[str, _Target] = {}
        self.labels: dict[str, list[str]] = {}
        self.headings: dict[str, list[str]] = {}
        self.unlabelled: list[list[str]] = []  # open <label>s without `for`, waiting for their control
        self.muted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        element_id = attr.get("id", "")
        if tag == "fieldset":
            self.groups.append(_Group())
        if element_id and element_id not in self.targets:
            self.targets[element_id] = _Target(tag, attr.get("type", "text").lower(), tuple(self.groups),
                                               " ".join(attr.get("aria-label", "").split()))
            if tag in _LABELABLE and attr.get("type") != "hidden" and self.unlabelled:
                self.labels.setdefault(element_id, self.unlabelled.pop())
        if tag in _VOID:
            return
        collect: list[str] | None = None
        if tag == "label":
            if attr.get("for"):
                collect = self.labels.setdefault(attr["for"], [])
                collect.append(" ")  # a second label of the same field adds its words
            else:
                collect = []
                self.unlabelled.append(collect)
        elif tag == "legend" and self.groups and not self.groups[-1].named:
            self.groups[-1].named = True
            collect = self.groups[-1].legend
        elif tag in _HEADINGS and element_id:
            collect = self.headings.setdefault(element_id, [])
        if tag in _MUTED:
            self.muted += 1
        self.open.append((tag, collect))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(name == tag for name, _ in self.open):
            return
        while self.open:  # closes what was left open inside it too
            name, collect = self.open.pop()
            if name in _MUTED:
                self.muted -= 1
            if name == "label" and collect is not None and self.unlabelled and self.unlabelled[-1] is collect:
                self.unlabelled.pop()
            if name == "fieldset" and self.groups:
                self.groups.pop()
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.muted:
            return
        for _name, collect in self.open:
            if collect is not None:
                collect.append(data)


def _own_name(element_id: str, target: _Target, reader: _Reader) -> tuple[str, tuple[_Group, ...], object]:
    """An element's name, the groups around it that may tell it apart from a namesake, and what gave
    the name (a group's radio buttons and the group itself share its legend: one name, not a repeat)."""
    if target.groups and target.groups[-1].text and (
            target.tag == "fieldset" or (target.tag == "input" and target.kind == "radio")):
        return target.groups[-1].text, target.groups[:-1], target.groups[-1]  # a radio: the question
    label = _clean(reader.labels.get(element_id, []))
    if label:
        return label, target.groups, element_id
    if target.tag in _HEADINGS:
        return _clean(reader.headings.get(element_id, [])), (), element_id
    return target.aria_label, target.groups, element_id


def field_names(html: str) -> dict[str, FieldName]:
    """The name of every element with an id in `html` that a label, legend, heading or aria-label
    names, by its id (the error summary links to `#id`)."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    named = {element_id: own for element_id, target in reader.targets.items()
             if (own := _own_name(element_id, target, reader))[0]}
    sources: dict[str, set[object]] = {}  # what gives each name: a field's id, or a group
    for name, _groups, source in named.values():
        sources.setdefault(name, set()).add(source)
    names: dict[str, FieldName] = {}
    for element_id, (name, groups, _source) in named.items():
        group = None
        if len(sources[name]) > 1:  # the same words name another field too: say which group this one is in
            group = next((g.text for g in reversed(groups) if g.text and g.text != name), None)
        names[element_id] = FieldName(name, group)
    return names
