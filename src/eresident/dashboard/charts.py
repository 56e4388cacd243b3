"""Bar charts laid out for SVG on the server: every bar's position and length in the chart's own
units, so the template only draws. Each chart also goes to the page as a table of its data."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 560  # the longest bar; each label has a line of its own above its bar(s), so no label is cut
CODE_WIDTH = 36  # the region code left of each bar of a grouped chart
# One fill per region, in the order the regions are shown; the first is the site's link colour.
# Never the only cue: every bar is labelled with its region's code and its value.
SERIES_FILLS = ("#1d4f91", "#8a1c1c", "#00703c", "#505a5f")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as printed beside the bar


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: one bar per label."""

    title: str
    bars: list[Bar]
    unit: str = ""

    WIDTH = WIDTH
    ROW = 42  # a label's line, then its bar

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * self.ROW

    def rows(self) -> list[tuple[int, Bar, float]]:
        """(y, bar, length) for each bar; the longest bar fills WIDTH."""
        top = max((b.value for b in self.bars), default=0) or 1
        return [(i * self.ROW, b, round(self.WIDTH * b.value / top, 1)) for i, b in enumerate(self.bars)]


@dataclass(frozen=True)
class Series:
    key: str  # the region code, printed on each bar
    label: str  # the region's name, for the legend and the table


@dataclass(frozen=True)
class Group:
    label: str
    values: list[float | None]  # one per series; None: that region has no figure for it
    texts: list[str]


@dataclass(frozen=True)
class GroupBar:
    y: int
    series: int
    key: str
    length: float
    text: str
    fill: str


@dataclass(frozen=True)
class GroupRow:
    y: int  # of the group's label
    label: str
    bars: list[GroupBar] = field(default_factory=list)


@dataclass(frozen=True)
class GroupedChart:
    """A horizontal bar chart with one bar per region under each label (a step, a process)."""

    title: str
    series: list[Series]
    groups: list[Group]
    unit: str = ""
    # Whether the group labels are messages of the catalogues (process names) or texts shown as
    # they are (a step's title from a process definition, which may be a peer's).
    translate: bool = True

    LABEL_ROW = 22
    BAR_ROW = 22
    GAP = 8

    @property
    def empty(self) -> bool:
        return not any(v is not None for g in self.groups for v in g.values)

    def layout(self) -> tuple[list[GroupRow], int]:
        """The rows to draw and the chart's height; every bar scaled to the longest of the chart."""
        top = max((v for g in self.groups for v in g.values if v is not None), default=0) or 1
        rows, y = [], 0
        for group in self.groups:
            row = GroupRow(y, group.label)
            y += self.LABEL_ROW
            for i, (value, text) in enumerate(zip(group.values, group.texts, strict=True)):
                length = round((WIDTH - CODE_WIDTH) * (value or 0) / top, 1)
                row.bars.append(GroupBar(y, i, self.series[i].key, length, text,
                                         SERIES_FILLS[i % len(SERIES_FILLS)]))
                y += self.BAR_ROW
            rows.append(row)
            y += self.GAP
        return rows, max(y, self.BAR_ROW)

    def legend(self) -> list[tuple[Series, str]]:
        return [(s, SERIES_FILLS[i % len(SERIES_FILLS)]) for i, s in enumerate(self.series)]
