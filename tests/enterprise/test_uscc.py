"""USCC (GB 32100-2015) validation and issuance."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from eresident.enterprise import uscc
from eresident.enterprise.uscc import UsccError, issue, validate

# Codes of well-known companies, as printed on their business licences and in their annual
# reports, recalled from those public disclosures. Each passes both independent checks (the
# GB 11714 check of the organisation code and the final GB 32100 check), which a misremembered
# code passes by chance about once in 341 times. The first is python-stdnum's own example.
REAL_CODES = {
    "91110000600037341L": "python-stdnum documentation example",
    "91100000100003962T": "Industrial and Commercial Bank of China Ltd.",
    "911000001000013428": "Bank of China Ltd.",
    "914403001922038216": "Huawei Technologies Co., Ltd.",
    "9144030071526726XG": "Shenzhen Tencent Computer Systems / Tencent Technology (Shenzhen) Co., Ltd.",
    "91330100799655058B": "Alibaba (China) Co., Ltd.",
    "91520000214434146R": "Kweichow Moutai Co., Ltd.",
    "91440300100012316L": "Ping An Insurance (Group) Company of China, Ltd.",
    "91440300192317458F": "BYD Company Ltd.",
    "91440300192181490G": "China Vanke Co., Ltd.",
    "91350900587527783P": "Contemporary Amperex Technology Co., Ltd. (CATL)",
    "9144030010001686XA": "China Merchants Bank Co., Ltd.",
    "91110000710925462X": "PetroChina Company Ltd.",
    "91110108551385082Q": "Beijing Xiaomi Technology Co., Ltd.",
    "91110000802100433B": "Baidu Online Network Technology (Beijing) Co., Ltd.",
}


def _with_final_check(first17: str) -> str:
    return first17 + uscc.check_character(first17)


@pytest.mark.parametrize("code", sorted(REAL_CODES))
def test_real_codes_are_valid(code):
    info = validate(code)
    assert info.code == code
    assert info.authority_code == "9" and info.authority_zh == "工商"
    assert info.entity_type_code == "1" and info.entity_type_en == "enterprise"
    assert info.division_code == code[2:8]
    assert info.organisation_code == code[8:17]
    assert info.check_character == code[17]
    assert stdnum_uscc.is_valid(code)


def test_parts_and_labels():
    info = validate("91100000100003962T")
    assert info.province_en == "national (central level)"
    info = validate("914403001922038216")
    assert (info.province_en, info.province_zh) == ("Guangdong", "广东省")
    assert info.to_dict()["organisation_code"] == "192203821"


@pytest.mark.parametrize("typed", [
    "91100000100003962t",                 # lower case
    " 9110 0000 1000 0396 2T ",           # spaces
    "91-100000-100003962-T",              # hyphens
    "９１１０００００１００００３９６２Ｔ",  # full-width, as Chinese keyboards type them
])
def test_normalised_input(typed):
    assert validate(typed).code == "91100000100003962T"


@pytest.mark.parametrize("code", sorted(REAL_CODES))
def test_every_single_substitution_of_a_real_code_is_rejected(code):
    for position in range(18):
        for char in uscc.ALPHABET:
            if char == code[position]:
                continue
            mutated = code[:position] + char + code[position + 1:]
            with pytest.raises(UsccError):
                validate(mutated)


def test_adjacent_transpositions_are_rejected():
    code = "914403001922038216"
    for position in range(17):
        if code[position] == code[position + 1]:
            continue
        swapped = code[:position] + code[position + 1] + code[position] + code[position + 2:]
        with pytest.raises(UsccError):
            validate(swapped)


@pytest.mark.parametrize("code, check, fragment", [
    ("9110000010000396", "length", "18 characters; this one has 16"),
    ("91100000100003962TT", "length", "this one has 19"),
    ("", "length", "this one has 0"),
    ("9110000010000I962T", "charset", "position 14: 'I' is one of the letters I, O, Z, S and V"),
    ("91100000100O0396XT", "charset", "position 12: 'O'"),
    ("9110000010000396ZT", "charset", "'Z'"),
    ("911000001000S3962T", "charset", "'S'"),
    ("911000001000039V2T", "charset", "'V'"),
    ("91100000100003962*", "charset", "'*' is not allowed"),
    ("Z1100000100003962T", "authority", "position 1 (registration authority) 'Z' is not a valid code"),
    ("B1100000100003962T", "authority", "position 1 (registration authority) 'B' is not a valid code"),
    ("94100000100003962T", "entity_type", "position 2 (entity type) '4' is not valid for registration authority 9"),
    ("Y2100000100003962T", "entity_type", "position 2 (entity type) '2'"),
    ("91123456100003962T", "division", "the administrative division code 123456 is not well-formed"),
    ("91990000100003962T", "division", "99 is not a province-level code"),
    ("91A10000100003962T", "division", "must be six digits"),
    ("91100100100003962T", "division", "must be 100000"),
    ("91110001100003962T", "division", "ends in 0000"),
    ("91448000100003962T", "division", "prefecture pair 80"),
    ("91100000100003963T", "organisation_check", "for 10000396 it should be '2' but is '3'"),
    ("91100000100003962U", "check_character", "the check character should be 'T' but is 'U'"),
])
def test_invalid_codes_with_reasons(code, check, fragment):
    with pytest.raises(UsccError) as caught:
        validate(code)
    assert caught.value.check == check
    assert fragment in caught.value.reason


def test_organisation_check_is_ours_not_stdnums():
    # Wrong GB 11714 check character, but a correct final check: stdnum accepts it.
    forged = _with_final_check("91100000100003963")
    assert stdnum_uscc.is_valid(forged)
    with pytest.raises(UsccError) as caught:
        validate(forged)
    assert caught.value.check == "organisation_check"
    assert caught.value.reason.startswith("the organisation code's own check character (GB 11714) is wrong")


def test_entity_type_combinations_are_ours_not_stdnums():
    forged = _with_final_check("95100000100003962")  # authority 9 has no entity type 5
    assert stdnum_uscc.is_valid(forged)
    with pytest.raises(UsccError) as caught:
        validate(forged)
    assert caught.value.check == "entity_type"


def test_division_is_ours_not_stdnums():
    forged = _with_final_check("91123456100003962")
    assert stdnum_uscc.is_valid(forged)
    with pytest.raises(UsccError) as caught:
        validate(forged)
    assert caught.value.check == "division"


@pytest.mark.parametrize("authority, entity_type", [("N", "2"), ("A", "1"), ("Y", "1"), ("5", "3"), ("1", "2")])
def test_letter_and_other_authorities_are_accepted(authority, entity_type):
    code = issue(authority=authority, entity_type=entity_type, division_code="500000", serial=7)
    info = validate(code)
    assert (info.authority_code, info.entity_type_code) == (authority, entity_type)
    if authority.isalpha():
        assert not stdnum_uscc.is_valid(code)  # stdnum wants eight leading digits


def test_gb11714_check_characters():
    assert uscc.organisation_check_character("60003734") == "1"
    assert uscc.organisation_check_character("71526726") == "X"   # remainder 10
    assert uscc.organisation_check_character("10000004") == "0"   # remainder 11
    with pytest.raises(ValueError):
        uscc.organisation_check_character("1234567")


def test_final_check_character_needs_17_alphabet_characters():
    assert uscc.check_character("91100000100003962") == "T"
    with pytest.raises(ValueError):
        uscc.check_character("9110000010000396")
    with pytest.raises(ValueError):
        uscc.check_character("9110000010000396I")


def test_not_a_string():
    with pytest.raises(UsccError):
        validate(None)  # type: ignore[arg-type]


def test_error_survives_pickling():
    import pickle

    error = UsccError("the check character should be 'T' but is 'U'", "check_character")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.reason, copy.check) == (error.reason, error.check)


# --------------------------------------------------------------------------- issue()

DIVISIONS = ["500000", "510100", "500112", "510116"]


@settings(max_examples=400, deadline=None)
@given(serial=st.integers(0, uscc.SERIAL_CAPACITY - 1), division=st.sampled_from(DIVISIONS))
def test_issue_round_trips_through_validate(serial, division):
    code = issue(division_code=division, serial=serial)
    info = validate(code)
    assert info.division_code == division
    assert (info.authority_code, info.entity_type_code) == ("9", "1")
    assert info.organisation_code[0] == "E"
    # the serial can be read back from the organisation code
    digits = info.organisation_code[1:8]
    value = 0
    for char in digits:
        value = value * len(uscc.ALPHABET) + uscc.ALPHABET.index(char)
    assert value == serial


@settings(max_examples=300, deadline=None)
@given(a=st.integers(0, uscc.SERIAL_CAPACITY - 1), b=st.integers(0, uscc.SERIAL_CAPACITY - 1))
def test_distinct_serials_give_distinct_codes(a, b):
    code_a = issue(division_code="500000", serial=a)
    code_b = issue(division_code="500000", serial=b)
    assert (code_a == code_b) == (a == b)


def test_no_collisions_over_a_run_of_serials():
    codes = {issue(division_code="500000", serial=s) for s in range(50_000)}
    assert len(codes) == 50_000


def test_regions_never_collide():
    lj = uscc.DIVISION_BY_REGION["LJ"]
    tf = uscc.DIVISION_BY_REGION["TF"]
    assert lj != tf
    lj_codes = {issue(division_code=lj, serial=s) for s in range(5_000)}
    tf_codes = {issue(division_code=tf, serial=s) for s in range(5_000)}
    assert not lj_codes & tf_codes


def test_issued_codes_stay_clear_of_the_national_ma_series():
    assert issue(division_code="500000", serial=0)[8:10] != "MA"


@pytest.mark.parametrize("kwargs, error", [
    (dict(division_code="500000", serial=-1), ValueError),
    (dict(division_code="500000", serial=uscc.SERIAL_CAPACITY), ValueError),
    (dict(division_code="500000", serial=True), TypeError),
    (dict(division_code="500000", serial=1.0), TypeError),
    (dict(division_code="123456", serial=1), ValueError),
    (dict(division_code="50000", serial=1), ValueError),
    (dict(authority="9", entity_type="9", division_code="500000", serial=1), ValueError),
    (dict(authority="Z", division_code="500000", serial=1), ValueError),
])
def test_issue_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        issue(**kwargs)


def test_largest_serial():
    code = issue(division_code="510100", serial=uscc.SERIAL_CAPACITY - 1)
    assert validate(code).organisation_code.startswith("EYYYYYYY")


# --------------------------------------------------------------------------- CLI


def test_main_valid_prints_parts_and_returns_0():
    out, err = io.StringIO(), io.StringIO()
    assert uscc.main("914403001922038216", out=out, err=err) == 0
    data = json.loads(out.getvalue())
    assert data["valid"] is True and data["organisation_code"] == "192203821"
    assert err.getvalue() == ""


def test_main_invalid_prints_reason_and_returns_1():
    out, err = io.StringIO(), io.StringIO()
    assert uscc.main("914403001922038217", out=out, err=err) == 1
    data = json.loads(err.getvalue())
    assert data == {"valid": False, "check": "check_character",
                    "reason": "the check character should be '6' but is '7'"}
    assert out.getvalue() == ""
