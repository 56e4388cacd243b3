"""The application page lists every problem at once (issue 8): what the form, the uploads, the passport
checks, the consents and the site find wrong is shown together, beside each field and in one summary in
page order, so a person corrects everything in one pass; nothing is stored until all is right. The API
answers the same body with its first refusal, as before."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from eresident.identity.models import Application
from tests.factories import Api, Person
from tests.identity.test_messages_i18n import apply_page, beside, browser, form_fields, shown


def summary_fields(page: str) -> list[str]:
    """The fields the error summary links to, in its order."""
    summary = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert summary, "no error summary"
    return re.findall(r'<a href="#([^"]+)">', summary.group(0))


def applications(node) -> int:
    with node.ctx.database.session(write=False) as db:
        return db.scalar(select(func.count()).select_from(Application))


def test_every_stage_of_problems_is_shown_in_one_answer(node):
    api = Api(node)
    token = api.applicant()
    person = Person(passport_expiry=date(2027, 3, 1))  # expires within six months
    fields = form_fields(person, phone="0555 12 34", surname="BENALLY", site_code="NOWHERE")
    fields.pop("consent_sensitive_data")
    r = browser(node, "en", token).post("/apply", data=fields)  # and no photo

    assert r.status_code == 422
    # The form's own check (phone), the passport checks (a typed name that differs from the MRZ, an
    # expiry too soon), the upload, the site and the consent, in the order of the page.
    assert summary_fields(r.text) == ["surname", "phone", "passport_expiry", "photo", "site_code",
                                      "consents-sensitive_data"]
    assert shown(r.text, "surname") == ("The surname you typed (BENALLY) differs from the passport's "
                                        "machine-readable zone (BENALI).")
    assert shown(r.text, "phone").startswith("Enter the number in international format")
    assert shown(r.text, "passport_expiry").startswith("Your passport expires on 1 Mar 2027.")
    assert shown(r.text, "photo") == "Choose a file to upload."
    assert shown(r.text, "site_code") == "Choose one of this region's overseas service sites."
    assert "We cannot process your application without this consent." in r.text
    assert applications(node) == 0


def test_an_invalid_field_is_not_also_compared_with_the_passport(node):
    """A date the form cannot read is named once, as unreadable; the MRZ is still checked."""
    api = Api(node)
    token = api.applicant()
    person = Person()
    lines = person.mrz()
    lines[1] = lines[1][:9] + ("0" if lines[1][9] != "0" else "1") + lines[1][10:]
    r = apply_page(node, "en", token, form_fields(person, birth_date="", mrz="\n".join(lines)))
    assert r.status_code == 422
    assert summary_fields(r.text) == ["birth_date", "mrz"]
    assert shown(r.text, "birth_date") == "Fill in this field."
    assert shown(r.text, "mrz").startswith("Machine-readable zone: The check digit of the document number")
    assert applications(node) == 0


def test_the_api_still_answers_with_the_first_refusal(node):
    api = Api(node)
    token = api.applicant()
    person = Person(passport_expiry=date(2027, 3, 1))
    r = api.submit(token, person, surname="BENALLY")
    assert r.status_code == 422
    problem = r.json()
    assert problem["title"] == "Your details differ from your passport"
    assert [e["field"] for e in problem["errors"]] == ["surname"]


@pytest.mark.parametrize("lang", ["zh", "ar"])
def test_all_problems_at_once_in_the_readers_language(node, lang):
    api = Api(node)
    token = api.applicant()
    person = Person()
    fields = form_fields(person, sex="M", phone="12")
    fields.pop("consent_processing")
    r = apply_page(node, lang, token, fields)
    assert r.status_code == 422
    assert summary_fields(r.text) == ["sex", "phone", "consents-processing"]
    wanted = {"zh": "您填写的性别（M）与护照机读区中的（F）不一致。",
              "ar": "ما أدخلته في خانة الجنس (M) يختلف عمّا في المنطقة المقروءة آليًا من الجواز (F)."}[lang]
    assert beside(r.text, "sex") == wanted
    assert applications(node) == 0


def test_a_correction_after_all_problems_is_accepted_with_the_kept_photo(node):
    api = Api(node)
    token = api.applicant()
    person = Person()
    r = apply_page(node, "en", token, form_fields(person, phone="12", surname="BENALLY"))
    assert summary_fields(r.text) == ["surname", "phone"]
    kept = re.search(r'name="photo_document_id" value="([^"]+)"', r.text)
    assert kept, "the accepted photo is kept for the correction"
    # A second attempt that is still wrong keeps the same photo (stored on the first).
    again = {**form_fields(person, phone="12"), "photo_document_id": kept.group(1)}
    r = browser(node, "en", token).post("/apply", data=again)
    assert r.status_code == 422 and summary_fields(r.text) == ["phone"]
    assert f'name="photo_document_id" value="{kept.group(1)}"' in r.text
    fixed = {**form_fields(person), "photo_document_id": kept.group(1)}
    r = browser(node, "en", token).post("/apply", data=fixed)
    assert r.status_code == 200, beside(r.text, "photo") if "error-summary" in r.text else r.text[:300]
    assert applications(node) == 1
