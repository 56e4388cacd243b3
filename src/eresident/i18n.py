"""The languages of the pages: English, Simplified Chinese and Arabic (right to left).

Messages live in gettext catalogues (`locale/<lang>/LC_MESSAGES/messages.po`), read once at start
with Babel; English is the source language. The language of a request is, in order: the one the
person chose (cookie `er_lang`, set by `/language`), then the best match of the browser's
Accept-Language, then English. Dates and numbers are formatted for that language with Babel.

Templates mark text with `{% trans %}…{% endtrans %}` or `_("…")`; `tests/test_i18n.py` extracts
every marked message and fails if a catalogue lacks a translation.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from gettext import c2py
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_timezone_location
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGE_COOKIE = "er_lang"


@dataclass(frozen=True)
class Language:
    code: str  # what pages, cookies and Accept-Language use
    babel: str  # Babel's locale for dates and numbers
    name: str  # in the language itself, for the switcher
    datetime_pattern: str  # a CLDR pattern: weekday, day, month, year, 24-hour time
    rtl: bool = False

    @property
    def direction(self) -> str:
        return "rtl" if self.rtl else "ltr"


LANGUAGES: dict[str, Language] = {
    "en": Language("en", "en_GB", "English", "EEE d MMM y, HH:mm"),
    "zh": Language("zh", "zh_Hans_CN", "中文（简体）", "y年M月d日 EEE HH:mm"),
    "ar": Language("ar", "ar", "العربية", "EEE d MMM y، HH:mm", rtl=True),
}
DEFAULT = "en"


def N_(message: str) -> str:
    """Marks a message for the catalogues where it is defined; pages translate it when they show it."""
    return message


@cache
def catalogue(code: str) -> dict[str, str | tuple[str, ...]]:
    """msgid -> translation (a tuple of plural forms for plural messages); empty for English."""
    path = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    if code == DEFAULT or not path.exists():
        return {}
    with path.open("rb") as handle:
        po = read_po(handle, locale=LANGUAGES[code].babel)
    table: dict[str, str | tuple[str, ...]] = {}
    for message in po:
        if not message.id or message.fuzzy:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]  # a plural's key: its singular
        if isinstance(message.string, str):
            if message.string:
                table[key] = message.string
        elif message.string and all(message.string):
            table[key] = tuple(message.string)
    return table


_current: ContextVar[str] = ContextVar("eresident_language", default=DEFAULT)


def current() -> Language:
    return LANGUAGES[_current.get()]


def activate(code: str) -> None:
    """The language of what is rendered next in this thread or task (set per request by render)."""
    _current.set(code if code in LANGUAGES else DEFAULT)


def gettext(message: str) -> str:
    translated = catalogue(_current.get()).get(message)
    return translated if isinstance(translated, str) else message


@cache
def _plural_rule(code: str):
    """The language's gettext plural rule (a C expression in Babel) as a function of n."""
    from babel.messages.plurals import get_plural

    return c2py(get_plural(LANGUAGES[code].babel).plural_expr)


def ngettext(singular: str, plural: str, n: int) -> str:
    code = _current.get()
    forms = catalogue(code).get(singular)
    if isinstance(forms, tuple):
        return forms[min(_plural_rule(code)(n), len(forms) - 1)]
    return singular if n == 1 else plural


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: the person's choice, else the browser's best match, else English."""
    if cookie in LANGUAGES:
        return cookie
    for tag, _quality in _parse_accept(accept_language or ""):
        primary = tag.split("-")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT


def _parse_accept(header: str) -> list[tuple[str, float]]:
    items = []
    for part in header.split(","):
        piece = part.strip()
        if not piece:
            continue
        tag, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        items.append((tag.strip(), quality))
    return sorted(items, key=lambda item: -item[1])


def local_time(value: datetime | str | None, tz: str = "UTC", place: bool = True) -> str:
    """A date and time for people, in the given zone and the current language, with the zone named
    (unless `place` is false: the page names it, as in "… Beijing time")."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:  # a time another system sent (a bank's slot) that is not ISO 8601: shown as sent
            return value
    else:
        when = value
    language = current()
    zone = ZoneInfo(tz)
    text = format_datetime(when, language.datetime_pattern, tzinfo=zone, locale=language.babel)
    if not place:
        return text
    if tz == "UTC":
        return f"{text} UTC"
    return gettext("{time} ({place} time)").format(time=text, place=place_name(tz))


def place_name(tz: str) -> str:
    """The place a time zone is named after, in the current language (CLDR's exemplar city: 阿尔及尔,
    الجزائر); China's one zone is Beijing time (北京时间), whatever the tz database calls it."""
    if tz == "Asia/Shanghai":
        return gettext("Beijing")
    try:
        return get_timezone_location(tz, locale=current().babel, return_city=True)
    except (LookupError, ValueError):
        return tz.split("/")[-1].replace("_", " ")


# CLDR patterns for a calendar date (a deadline, a period, a founding date): without, with the weekday.
DATE_PATTERNS = {"en": ("d MMM y", "EEE d MMM y"), "zh": ("y年M月d日", "y年M月d日 EEE"),
                 "ar": ("d MMM y", "EEE d MMM y")}


def local_date(value: date | str | None, weekday: bool = False) -> str:
    """A calendar date for people in the current language (no time, no zone)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            day = date.fromisoformat(value[:10])
        except ValueError:
            return value
    else:
        day = value
    language = current()
    return format_date(day, DATE_PATTERNS[language.code][weekday], locale=language.babel)


def number(value: float | int) -> str:
    return format_decimal(value, locale=current().babel)


def country(code: str, english: str | None = None) -> str:
    """A country's name in the current language (Babel's CLDR names), else the English one."""
    from babel import Locale

    from eresident.identity import countries

    if current().code == DEFAULT:  # English keeps the names the forms have always shown (ISO 3166)
        return english or countries.name(code)
    two = countries.alpha2(code) or code
    return Locale.parse(current().babel).territories.get(two) or english or countries.name(code)


def countries_in_language(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(code, English name) pairs as (code, name in the current language), in that language's order."""
    named = [(code, country(code, english)) for code, english in pairs]
    return sorted(named, key=lambda pair: pair[1])
