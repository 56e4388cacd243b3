"""Read, verify and build the machine-readable zone (MRZ) of passports and ID cards.

Implements the TD1 (3x30), TD2 (2x36) and TD3 (2x44) layouts of ICAO Doc 9303 Parts 3-6.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from eresident.i18n import N_
from eresident.kit.errors import Message

__all__ = [
    "MRZ",
    "MRZError",
    "check_digit",
    "make_td1",
    "make_td2",
    "make_td3",
    "parse_mrz",
]

FILLER = "<"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_LOWERCASE = _LETTERS.lower()
# Doc 9303 Part 3: digits keep their value, A=10 ... Z=35, the filler counts as 0.
_CHAR_VALUES: dict[str, int] = {char: value for value, char in enumerate(_DIGITS + _LETTERS)}
_CHAR_VALUES[FILLER] = 0
_WEIGHTS = (7, 3, 1)

# (line count, line length) -> format name.
_SHAPES = {(3, 30): "TD1", (2, 36): "TD2", (2, 44): "TD3"}
_NAME_WIDTH = {"TD1": 30, "TD2": 31, "TD3": 39}
# Width of the optional-data field that a long TD1/TD2 document number spills into.
_OPTIONAL_WIDTH = {"TD1": 15, "TD2": 7}
_TD1_OPTIONAL_2_WIDTH = 11
_TD3_PERSONAL_NUMBER_WIDTH = 14
# Document numbers up to this length fit in their own field; longer ones need the
# overflow rule of Doc 9303 Parts 5 and 6 (TD1/TD2 only).
_DOCUMENT_NUMBER_WIDTH = 9

# Unknown birth-date parts are written as "<<" (Doc 9303 Part 3); an MRZ with them
# can still carry a valid check digit, so it is accepted and reported as birth_date=None.
_UNKNOWN_DATE_PART = FILLER * 2

_SEX_CODES = {"M": "M", "F": "F", "X": "X", FILLER: "X"}

_LABELS = {
    "document_number": N_("document number"),
    "birth_date": N_("date of birth"),
    "expiry_date": N_("date of expiry"),
    "personal_number": N_("personal number"),
    "issuing_state": N_("issuing state"),
    "nationality": N_("nationality"),
}

_DOCUMENT_CODE = re.compile(r"[A-Z][A-Z<]")
_STATE_CODE = re.compile(r"[A-Z]{1,3}<*")


class MRZError(ValueError):
    """A failed MRZ check.

    ``field`` names the part of the MRZ at fault (e.g. ``'document_number'``, ``'composite'``,
    ``'line_length'``), ``check`` is a short machine code (e.g. ``'check_digit'``, ``'length'``,
    ``'charset'``, ``'date'``, ``'format'``) and ``message`` is a plain sentence that can be shown
    to the person who typed or scanned the MRZ: English as a string, a ``kit.errors.Message`` that
    pages translate.
    """

    def __init__(self, field: str, check: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.check = check
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling replays ``args`` (only the message) into __init__, which
        # needs three arguments; errors must survive being sent between worker processes.
        return (type(self), (self.field, self.check, self.message))

    def __repr__(self) -> str:
        return f"MRZError(field={self.field!r}, check={self.check!r}, message={self.message!r})"


@dataclass(frozen=True)
class MRZ:
    """The verified content of a machine-readable zone, fillers removed."""

    format: str
    document_code: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: date | None
    sex: str
    expiry_date: date
    optional_data: str
    optional_data_2: str
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: dates as ISO strings, lines as a list."""
        result: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            result[field.name] = value
        return result


def check_digit(value: str) -> str:
    """Return the Doc 9303 check digit ('0'-'9') of ``value`` (7-3-1 weighting, modulus 10)."""
    total = 0
    for index, char in enumerate(value):
        try:
            char_value = _CHAR_VALUES[char]
        except KeyError:
            raise ValueError(
                f"{char!r} cannot appear in an MRZ; only A-Z, 0-9 and '<' are allowed."
            ) from None
        total += char_value * _WEIGHTS[index % 3]
    return str(total % 10)


# --------------------------------------------------------------------------- parsing


def parse_mrz(text: str | Sequence[str], *, today: date) -> MRZ:
    """Parse and fully verify a TD1, TD2 or TD3 MRZ.

    ``text`` is either the lines as a sequence or one string with line breaks; whitespace
    around each line and blank lines are ignored. ``today`` only anchors the two-digit
    years (see ``_birth_year`` and ``_expiry_year``); whether the document has expired is
    left to the caller. Raises ``MRZError`` on the first failed check.
    """
    lines = _split_lines(text)
    _check_characters(lines)
    document_format = _detect_format(lines)
    if document_format == "TD1":
        return _parse_td1(lines, today)
    if document_format == "TD2":
        return _parse_td2(lines, today)
    return _parse_td3(lines, today)


def _split_lines(text: str | Sequence[str]) -> list[str]:
    chunks = [text] if isinstance(text, str) else list(text)
    lines: list[str] = []
    for chunk in chunks:
        if not isinstance(chunk, str):
            raise TypeError(f"MRZ lines must be strings, got {type(chunk).__name__}.")
        lines.extend(line.strip() for line in chunk.splitlines())
    return [line for line in lines if line]


def _check_characters(lines: Sequence[str]) -> None:
    for line_number, line in enumerate(lines, start=1):
        for position, char in enumerate(line, start=1):
            if char in _CHAR_VALUES:
                continue
            if char in _LOWERCASE:
                # Not upper-cased silently: lowercase usually means the text was retyped
                # or mangled by OCR, and other characters may be wrong as well.
                message = Message(
                    N_("Line %(line)s has the lowercase letter %(char)s at position "
                       "%(position)s; an MRZ is written in capital letters only."),
                    line=line_number, char=repr(char), position=position,
                )
            else:
                message = Message(
                    N_("Line %(line)s has the character %(char)s at position %(position)s; "
                       "an MRZ may only contain A-Z, 0-9 and '<'."),
                    line=line_number, char=repr(char), position=position,
                )
            raise MRZError("characters", "charset", message)


def _detect_format(lines: Sequence[str]) -> str:
    lengths = [len(line) for line in lines]
    if lengths and len(set(lengths)) == 1:
        document_format = _SHAPES.get((len(lines), lengths[0]))
        if document_format is not None:
            return document_format
    raise MRZError(
        "line_length",
        "length",
        Message(
            N_("An MRZ must be 3 lines of 30 characters (TD1), 2 lines of 36 characters (TD2) "
               "or 2 lines of 44 characters (TD3), but received %(received)s."),
            received=_describe_shape(lengths),
        ),
    )


def _describe_shape(lengths: Sequence[int]) -> Message:
    if not lengths:
        return Message(N_("no text"))
    if len(lengths) == 1:
        return Message(N_("1 line of %(length)s characters"), length=lengths[0])
    if len(set(lengths)) == 1:
        return Message(N_("%(count)s lines of %(length)s characters"), count=len(lengths), length=lengths[0])
    listed = ", ".join(str(length) for length in lengths[:-1])
    return Message(N_("%(count)s lines of %(lengths)s and %(last)s characters"),
                   count=len(lengths), lengths=listed, last=lengths[-1])


def _parse_td1(lines: Sequence[str], today: date) -> MRZ:
    # Doc 9303 Part 5; slices are 0-based, comments give the spec's 1-based positions.
    upper, middle, lower = lines
    document_code = _parse_document_code(upper[0:2])
    issuing_state = _parse_state(upper[2:5], "issuing_state")
    # Number 6-14, check digit 15, optional data 16-30.
    document_number, optional_data = _parse_document_number_with_overflow(
        upper[5:14], upper[14], upper[15:30]
    )
    birth_date = _parse_birth_date(middle[0:6], middle[6], today)
    sex = _parse_sex(middle[7])
    expiry_date = _parse_expiry_date(middle[8:14], middle[14], today)
    nationality = _parse_state(middle[15:18], "nationality")
    optional_data_2 = middle[18:29].strip(FILLER)
    # Composite: line 1 positions 6-30, line 2 positions 1-7, 9-15 and 19-29.
    _verify_check_digit(
        "composite", upper[5:30] + middle[0:7] + middle[8:15] + middle[18:29], middle[29]
    )
    surname, given_names = _parse_name(lower)
    return MRZ(
        format="TD1",
        document_code=document_code,
        issuing_state=issuing_state,
        surname=surname,
        given_names=given_names,
        document_number=document_number,
        nationality=nationality,
        birth_date=birth_date,
        sex=sex,
        expiry_date=expiry_date,
        optional_data=optional_data,
        optional_data_2=optional_data_2,
        lines=tuple(lines),
    )


def _parse_td2(lines: Sequence[str], today: date) -> MRZ:
    # Doc 9303 Part 6.
    upper, lower = lines
    document_code = _parse_document_code(upper[0:2])
    issuing_state = _parse_state(upper[2:5], "issuing_state")
    surname, given_names = _parse_name(upper[5:36])
    # Number 1-9, check digit 10, optional data 29-35 (which a long number spills into).
    document_number, optional_data = _parse_document_number_with_overflow(
        lower[0:9], lower[9], lower[28:35]
    )
    nationality = _parse_state(lower[10:13], "nationality")
    birth_date = _parse_birth_date(lower[13:19], lower[19], today)
    sex = _parse_sex(lower[20])
    expiry_date = _parse_expiry_date(lower[21:27], lower[27], today)
    # Composite: positions 1-10, 14-20 and 22-35.
    _verify_check_digit("composite", lower[0:10] + lower[13:20] + lower[21:35], lower[35])
    return MRZ(
        format="TD2",
        document_code=document_code,
        issuing_state=issuing_state,
        surname=surname,
        given_names=given_names,
        document_number=document_number,
        nationality=nationality,
        birth_date=birth_date,
        sex=sex,
        expiry_date=expiry_date,
        optional_data=optional_data,
        optional_data_2="",
        lines=tuple(lines),
    )


def _parse_td3(lines: Sequence[str], today: date) -> MRZ:
    # Doc 9303 Part 4. TD3 has no long-document-number rule: 9 characters at most.
    upper, lower = lines
    document_code = _parse_document_code(upper[0:2])
    issuing_state = _parse_state(upper[2:5], "issuing_state")
    surname, given_names = _parse_name(upper[5:44])
    document_number = _parse_document_number(lower[0:9], lower[9])
    nationality = _parse_state(lower[10:13], "nationality")
    birth_date = _parse_birth_date(lower[13:19], lower[19], today)
    sex = _parse_sex(lower[20])
    expiry_date = _parse_expiry_date(lower[21:27], lower[27], today)
    personal_number = _parse_personal_number(lower[28:42], lower[42])
    # Composite: positions 1-10, 14-20 and 22-43.
    _verify_check_digit("composite", lower[0:10] + lower[13:20] + lower[21:43], lower[43])
    return MRZ(
        format="TD3",
        document_code=document_code,
        issuing_state=issuing_state,
        surname=surname,
        given_names=given_names,
        document_number=document_number,
        nationality=nationality,
        birth_date=birth_date,
        sex=sex,
        expiry_date=expiry_date,
        optional_data=personal_number,
        optional_data_2="",
        lines=tuple(lines),
    )


def _verify_check_digit(field: str, data: str, found: str) -> None:
    expected = check_digit(data)
    if found == expected:
        return
    shown = found if found in _DIGITS else f"'{found}'"
    if field == "composite":
        message = Message(N_("The composite check digit is %(found)s but should be %(expected)s."),
                          found=shown, expected=expected)
    else:
        message = Message(N_("The check digit of the %(part)s is %(found)s but should be %(expected)s."),
                          part=Message(_LABELS[field]), found=shown, expected=expected)
    raise MRZError(field, "check_digit", message)


def _parse_document_code(raw: str) -> str:
    if not _DOCUMENT_CODE.fullmatch(raw):
        raise MRZError(
            "document_code",
            "format",
            Message(N_("The document code %(code)s is not valid: it must be a letter followed by "
                       "a letter or '<'."), code=repr(raw)),
        )
    if raw[0] == "V":
        # Visas (MRV-A/MRV-B) share the TD3/TD2 line shapes but lay out line 2 differently.
        raise MRZError(
            "format",
            "unsupported",
            Message(N_("This is the MRZ of a visa (document code starting with V); only passports "
                       "and identity documents are supported.")),
        )
    return raw.rstrip(FILLER)


def _parse_state(raw: str, field: str) -> str:
    if not _STATE_CODE.fullmatch(raw):
        raise MRZError(
            field,
            "format",
            Message(N_("The %(part)s code %(code)s is not valid: it must be one to three "
                       "letters, padded with '<'."), part=Message(_LABELS[field]), code=repr(raw)),
        )
    return raw.rstrip(FILLER)


def _parse_name(raw: str) -> tuple[str, str]:
    """Split the name field into (primary identifier, secondary identifier)."""
    digit = next((char for char in raw if char in _DIGITS), None)
    if digit is not None:
        raise MRZError(
            "name",
            "charset",
            Message(N_("The name field contains the digit %(digit)s; names may only use A-Z and '<'."),
                    digit=repr(digit)),
        )
    primary, _, secondary = raw.rstrip(FILLER).partition(FILLER * 2)
    surname, given_names = _join_name_parts(primary), _join_name_parts(secondary)
    if not surname and not given_names:
        raise MRZError("name", "format", Message(N_("The name field is empty.")))
    return surname, given_names


def _join_name_parts(identifier: str) -> str:
    return " ".join(part for part in identifier.split(FILLER) if part)


def _parse_document_number(raw: str, found_check: str) -> str:
    _verify_check_digit("document_number", raw, found_check)
    number = raw.rstrip(FILLER)
    if not number:
        raise MRZError("document_number", "format", Message(N_("The document number is empty.")))
    return number


def _parse_document_number_with_overflow(
    principal: str, found_check: str, optional: str
) -> tuple[str, str]:
    """Return (document number, optional data) for TD1/TD2.

    Doc 9303 Parts 5 and 6: a number longer than 9 characters puts a filler in the
    check-digit position and continues at the start of the optional data, followed by
    its check digit (computed over the whole number) and a filler.
    """
    if found_check != FILLER:
        return _parse_document_number(principal, found_check), optional.strip(FILLER)
    overflow, _, rest = optional.partition(FILLER)
    if FILLER in principal or len(overflow) < 2:
        # Not a well-formed long number, so the filler is most likely a damaged check
        # digit; report it as such, which names the digit the short number needs.
        _verify_check_digit("document_number", principal, found_check)
    number = principal + overflow[:-1]
    _verify_check_digit("document_number", number, overflow[-1])
    return number, rest.strip(FILLER)


def _parse_personal_number(raw: str, found_check: str) -> str:
    personal_number = raw.strip(FILLER)
    # Doc 9303 Part 4: an unused personal number may carry '<' or '0' as its check digit;
    # '0' is what the calculation gives anyway, so only the filler needs a special case.
    if not personal_number and found_check == FILLER:
        return ""
    _verify_check_digit("personal_number", raw, found_check)
    return personal_number


def _parse_sex(raw: str) -> str:
    try:
        return _SEX_CODES[raw]
    except KeyError:
        raise MRZError(
            "sex", "format", Message(N_("The sex field is %(value)s but must be M, F, X or '<'."), value=repr(raw))
        ) from None


def _parse_birth_date(raw: str, found_check: str, today: date) -> date | None:
    _verify_check_digit("birth_date", raw, found_check)
    if FILLER in raw:
        _check_partly_unknown_date(raw)
        return None
    year_of_century, month, day = _date_digits(raw, "birth_date")
    year = _birth_year(year_of_century, month, day, today)
    return _calendar_date(year, month, day, raw, "birth_date")


def _parse_expiry_date(raw: str, found_check: str, today: date) -> date:
    _verify_check_digit("expiry_date", raw, found_check)
    year_of_century, month, day = _date_digits(raw, "expiry_date")
    return _calendar_date(_expiry_year(year_of_century, today), month, day, raw, "expiry_date")


def _birth_year(year_of_century: int, month: int, day: int, today: date) -> int:
    """The latest year ending in ``year_of_century`` that does not put the birth after today."""
    year = today.year - today.year % 100 + year_of_century
    if (year_of_century, month, day) > (today.year % 100, today.month, today.day):
        year -= 100
    return year


def _expiry_year(year_of_century: int, today: date) -> int:
    """Place the expiry year in the window today.year - 49 ... today.year + 50.

    Documents are valid for at most about ten years, so an expiry more than 50 years away
    in either direction is implausible. Until 2049 this is the rule "20YY when
    YY <= today's YY + 50, else 19YY".
    """
    year = today.year - today.year % 100 + year_of_century
    if year > today.year + 50:
        year -= 100
    elif year <= today.year - 50:
        year += 100
    return year


def _date_digits(raw: str, field: str) -> tuple[int, int, int]:
    if not all(char in _DIGITS for char in raw):
        raise MRZError(
            field,
            "date",
            Message(N_("The %(part)s %(value)s is not a valid date: it must be six digits, YYMMDD."),
                    part=Message(_LABELS[field]), value=repr(raw)),
        )
    return int(raw[0:2]), int(raw[2:4]), int(raw[4:6])


def _calendar_date(year: int, month: int, day: int, raw: str, field: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise MRZError(
            field,
            "date",
            Message(N_("The %(part)s %(value)s (YYMMDD) is not a real calendar date."),
                    part=Message(_LABELS[field]), value=repr(raw)),
        ) from None


def _check_partly_unknown_date(raw: str) -> None:
    _, month, day = parts = (raw[0:2], raw[2:4], raw[4:6])
    known = [part for part in parts if part != _UNKNOWN_DATE_PART]
    valid = all(char in _DIGITS for part in known for char in part)
    if valid and month != _UNKNOWN_DATE_PART:
        valid = 1 <= int(month) <= 12
    if valid and day != _UNKNOWN_DATE_PART:
        valid = 1 <= int(day) <= 31
    if not valid:
        raise MRZError(
            "birth_date",
            "date",
            Message(N_("The date of birth %(value)s is not a valid date: unknown parts must be written "
                       "as '<<' and known parts as digits of a possible date (YYMMDD)."), value=repr(raw)),
        )


# --------------------------------------------------------------------------- building


def make_td3(
    *,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    birth_date: date | None,
    sex: str,
    expiry_date: date,
    issuing_state: str | None = None,
    personal_number: str = "",
    document_code: str = "P",
) -> tuple[str, str]:
    """Build the two 44-character lines of a passport (TD3) MRZ.

    Inputs must already be in MRZ characters (A-Z, 0-9; spaces between name parts).
    ``issuing_state`` defaults to ``nationality``; ``birth_date=None`` writes an unknown
    date of birth as fillers. Raises ``ValueError`` for anything that cannot be encoded.
    """
    code = _encode_document_code(document_code)
    state = _encode_state(nationality if issuing_state is None else issuing_state, "issuing_state")
    name = _encode_name(surname, given_names, _NAME_WIDTH["TD3"])
    number = _encode_document_number(document_number)
    if len(number) > _DOCUMENT_NUMBER_WIDTH:
        raise ValueError(
            f"document_number {document_number!r} is longer than 9 characters, "
            "which a TD3 MRZ cannot hold."
        )
    number_field = number.ljust(_DOCUMENT_NUMBER_WIDTH, FILLER)
    personal = _encode_optional(personal_number, _TD3_PERSONAL_NUMBER_WIDTH, "personal_number")
    personal_field = personal.ljust(_TD3_PERSONAL_NUMBER_WIDTH, FILLER)
    # Doc 9303 Part 4 allows '<' or '0' for an unused personal number; '<' is what
    # issuers commonly print.
    personal_check = check_digit(personal_field) if personal else FILLER
    birth = _encode_date(birth_date, "birth_date", allow_unknown=True)
    expiry = _encode_date(expiry_date, "expiry_date", allow_unknown=False)

    upper = code + state + name
    lower = (
        number_field
        + check_digit(number_field)
        + _encode_state(nationality, "nationality")
        + birth
        + check_digit(birth)
        + _encode_sex(sex)
        + expiry
        + check_digit(expiry)
        + personal_field
        + personal_check
    )
    lower += check_digit(lower[0:10] + lower[13:20] + lower[21:43])
    return upper, lower


def make_td1(
    *,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    birth_date: date | None,
    sex: str,
    expiry_date: date,
    issuing_state: str | None = None,
    optional_data: str = "",
    optional_data_2: str = "",
    document_code: str = "I",
) -> tuple[str, str, str]:
    """Build the three 30-character lines of an ID-card (TD1) MRZ.

    A document number longer than 9 characters is continued in the line-1 optional data
    (Doc 9303 Part 5), so it and ``optional_data`` must fit together in 15 characters.
    Otherwise as ``make_td3``.
    """
    code = _encode_document_code(document_code)
    state = _encode_state(nationality if issuing_state is None else issuing_state, "issuing_state")
    name = _encode_name(surname, given_names, _NAME_WIDTH["TD1"])
    optional = _encode_optional(optional_data, _OPTIONAL_WIDTH["TD1"], "optional_data")
    number_field, number_check, optional_field = _encode_number_and_optional(
        document_number, optional, _OPTIONAL_WIDTH["TD1"]
    )
    optional_2 = _encode_optional(optional_data_2, _TD1_OPTIONAL_2_WIDTH, "optional_data_2")
    birth = _encode_date(birth_date, "birth_date", allow_unknown=True)
    expiry = _encode_date(expiry_date, "expiry_date", allow_unknown=False)

    upper = code + state + number_field + number_check + optional_field
    middle = (
        birth
        + check_digit(birth)
        + _encode_sex(sex)
        + expiry
        + check_digit(expiry)
        + _encode_state(nationality, "nationality")
        + optional_2.ljust(_TD1_OPTIONAL_2_WIDTH, FILLER)
    )
    middle += check_digit(upper[5:30] + middle[0:7] + middle[8:15] + middle[18:29])
    return upper, middle, name


def make_td2(
    *,
    surname: str,
    given_names: str,
    document_number: str,
    nationality: str,
    birth_date: date | None,
    sex: str,
    expiry_date: date,
    issuing_state: str | None = None,
    optional_data: str = "",
    document_code: str = "I",
) -> tuple[str, str]:
    """Build the two 36-character lines of a TD2 MRZ.

    A document number longer than 9 characters is continued in the optional data
    (Doc 9303 Part 6), so it and ``optional_data`` must fit together in 7 characters.
    Otherwise as ``make_td3``.
    """
    code = _encode_document_code(document_code)
    state = _encode_state(nationality if issuing_state is None else issuing_state, "issuing_state")
    name = _encode_name(surname, given_names, _NAME_WIDTH["TD2"])
    optional = _encode_optional(optional_data, _OPTIONAL_WIDTH["TD2"], "optional_data")
    number_field, number_check, optional_field = _encode_number_and_optional(
        document_number, optional, _OPTIONAL_WIDTH["TD2"]
    )
    birth = _encode_date(birth_date, "birth_date", allow_unknown=True)
    expiry = _encode_date(expiry_date, "expiry_date", allow_unknown=False)

    upper = code + state + name
    lower = (
        number_field
        + number_check
        + _encode_state(nationality, "nationality")
        + birth
        + check_digit(birth)
        + _encode_sex(sex)
        + expiry
        + check_digit(expiry)
        + optional_field
    )
    lower += check_digit(lower[0:10] + lower[13:20] + lower[21:35])
    return upper, lower


def _encode_document_code(document_code: str) -> str:
    if not re.fullmatch(r"[A-Z][A-Z<]?", document_code):
        raise ValueError(
            f"document_code must be one or two capital letters, got {document_code!r}."
        )
    if document_code[0] == "V":
        raise ValueError("document codes starting with V denote visas, which are not supported.")
    return document_code.ljust(2, FILLER)


def _encode_state(code: str, argument: str) -> str:
    stripped = code.rstrip(FILLER)
    if not re.fullmatch(r"[A-Z]{1,3}", stripped):
        raise ValueError(
            f"{argument} must be a code of one to three capital letters such as 'UTO' "
            f"or 'D', got {code!r}."
        )
    return stripped.ljust(3, FILLER)


def _encode_document_number(document_number: str) -> str:
    if not re.fullmatch(r"[A-Z0-9]+", document_number):
        raise ValueError(
            "document_number must be one or more capital letters and digits, "
            f"got {document_number!r}."
        )
    return document_number


def _encode_number_and_optional(
    document_number: str, optional: str, optional_width: int
) -> tuple[str, str, str]:
    """Return the (9-character number, check digit, optional data) fields of TD1/TD2."""
    number = _encode_document_number(document_number)
    if len(number) <= _DOCUMENT_NUMBER_WIDTH:
        number_field = number.ljust(_DOCUMENT_NUMBER_WIDTH, FILLER)
        return number_field, check_digit(number_field), optional.ljust(optional_width, FILLER)
    # Long number: filler as check digit, the rest of the number and its check digit open
    # the optional data, and a filler separates them from any real optional data.
    continuation = number[_DOCUMENT_NUMBER_WIDTH:] + check_digit(number)
    if optional:
        continuation += FILLER + optional
    if len(continuation) > optional_width:
        raise ValueError(
            f"document_number {document_number!r} is too long to fit in the MRZ"
            + (" together with the optional data." if optional else ".")
        )
    return (
        number[:_DOCUMENT_NUMBER_WIDTH],
        FILLER,
        continuation.ljust(optional_width, FILLER),
    )


def _encode_optional(value: str, width: int, argument: str) -> str:
    stripped = value.strip(FILLER)
    if not re.fullmatch(r"[A-Z0-9<]*", stripped):
        raise ValueError(f"{argument} may only contain A-Z, 0-9 and '<', got {value!r}.")
    if len(stripped) > width:
        raise ValueError(f"{argument} is longer than {width} characters: {value!r}.")
    return stripped


def _encode_date(value: date | None, argument: str, *, allow_unknown: bool) -> str:
    if value is None and allow_unknown:
        return FILLER * 6
    if not isinstance(value, date):
        raise ValueError(f"{argument} must be a date, got {value!r}.")
    return f"{value.year % 100:02d}{value.month:02d}{value.day:02d}"


def _encode_sex(sex: str) -> str:
    if sex in ("M", "F"):
        return sex
    if sex in ("X", FILLER):
        # Doc 9303 writes "unspecified" as a filler in the MRZ (X is the VIZ form);
        # the parser reads both back as "X".
        return FILLER
    raise ValueError(f"sex must be 'M', 'F', 'X' or '<', got {sex!r}.")


def _encode_name(surname: str, given_names: str, width: int) -> str:
    primary = _encode_name_parts(surname, "surname")
    secondary = _encode_name_parts(given_names, "given_names")
    if not primary:
        raise ValueError(
            "surname is required; for a holder with a one-part name put that name in surname."
        )
    full = primary + (FILLER * 2 + secondary if secondary else "")
    if len(full) <= width:
        return full.ljust(width, FILLER)
    return _truncate_name(primary, secondary, width).ljust(width, FILLER)


def _encode_name_parts(value: str, argument: str) -> str:
    if not re.fullmatch(r"[A-Z <]*", value):
        raise ValueError(
            f"{argument} may only contain capital letters A-Z and spaces "
            f"(transliterate it first), got {value!r}."
        )
    return FILLER.join(part for part in re.split(r"[ <]+", value) if part)


def _truncate_name(primary: str, secondary: str, width: int) -> str:
    """Shorten a name that does not fit, following Doc 9303 Part 3 truncation.

    The secondary identifier is shortened first; the primary identifier is cut only when
    it alone leaves no room for the separator and a given-name initial. The last position
    keeps a letter so that a reader can see the name may have been truncated.
    """
    if secondary and len(primary) + 3 <= width:
        full = primary + FILLER * 2 + secondary
    elif secondary:
        full = primary[: width - 3].rstrip(FILLER) + FILLER * 2 + secondary[0]
    else:
        full = primary
    cut = full[:width]
    if len(full) > width and cut.endswith(FILLER) and not cut[:-2].endswith(FILLER):
        # The cut fell on a word boundary, which would end the field in a filler and hide
        # the truncation: shorten the previous word by one letter and use the last
        # position for the next word's initial (unless that would erase a one-letter word).
        cut = cut[:-2] + FILLER + full[width]
    return cut.rstrip(FILLER)
