"""The error summary names the field of each problem (eresident/error_summary.py, base.html): "Surname:
Fill in this field." rather than three identical "Fill in this field.", in the page's language, with the
group of a repeated row ("Investor 2 – …"), escaped, and each link still leading to the field's id."""

from __future__ import annotations

import html
import re
from types import SimpleNamespace

import pytest

from eresident import i18n
from eresident.error_summary import FieldName, field_names
from eresident.kit.errors import FieldError
from eresident.pages import TEMPLATES
from tests.enterprise.helpers import NAME_EN, NAME_ZH, Founders
from tests.enterprise.test_pages import form_data, signed_in
from tests.factories import Api, Person
from tests.identity.test_messages_i18n import apply_page, form_fields
from tests.test_pages import Browser, official_browser


@pytest.fixture(autouse=True)
def _english_afterwards():
    yield
    i18n.activate("en")


def summary(page: str) -> list[tuple[str, str]]:
    """The error summary's links: (target, text), in order."""
    found = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert found, "no error summary"
    return [(href, html.unescape(text).strip())
            for href, text in re.findall(r'<a href="([^"]*)">(.*?)</a>', found.group(0), re.S)]


def beside(page: str, element_id: str) -> str:
    """The message beside a field, without the hidden "Error:"."""
    found = re.search(rf'<p class="field-error" id="{element_id}-error">(.*?)</p>', page, re.S)
    assert found, f"no message beside {element_id}"
    return html.unescape(re.sub(r"<span[^>]*>.*?</span>", "", found.group(1))).strip()


def assert_leads_to_a_field(page: str, href: str) -> None:
    """The link's target is an element of the page (a field, or the group of a choice)."""
    target = href.split("#", 1)[1]
    assert re.search(rf'<(input|select|textarea|fieldset)\b[^>]*\bid="{re.escape(target)}"', page), target


# --- what the page calls each field -------------------------------------------------------------------------

def test_a_field_is_named_by_its_label_legend_or_heading():
    names = field_names("""
      <label for="surname">Surname <span class="small">(as in the passport)</span></label>
      <input id="surname" name="surname">
      <fieldset id="company_type"><legend>Type of <b>company</b></legend>
        <input type="radio" id="company_type-jv"><label for="company_type-jv">Joint venture</label></fieldset>
      <fieldset><legend>Your decision</legend>
        <input type="radio" id="decision"><label for="decision">Approve</label>
        <label for="reasons">Reasons</label><textarea id="reasons">a &lt;label&gt; typed here</textarea></fieldset>
      <label>Code <input id="totp" name="totp"></label>
      <label for="site">Site</label><select id="site"><option>Algiers</option></select>
      <h2 id="roles" tabindex="-1">Roles</h2>
      <input id="search" aria-label="Search  the   cases">
      <input id="nameless"><p id="text">not a field</p>
      <label for="mark">Tom &amp; Jerry &lt;b&gt;</label><input id="mark">""")
    assert names["surname"] == FieldName("Surname (as in the passport)", None)
    assert names["company_type"].label == "Type of company"  # a group: its legend
    assert names["company_type-jv"].label == "Type of company"  # a radio button: the question
    assert names["decision"].label == "Your decision"  # not its first answer, "Approve"
    assert names["reasons"].label == "Reasons"  # what is typed in a box is no part of its name
    assert names["totp"].label == "Code"  # a label around its field
    assert names["site"].label == "Site"
    assert names["roles"].label == "Roles"
    assert names["search"].label == "Search the cases"
    assert names["mark"].label == "Tom & Jerry <b>"  # plain text: the template escapes it
    assert "nameless" not in names and "text" not in names


def test_a_label_repeated_in_rows_comes_with_its_rows_legend():
    row = """<fieldset id="investors-{i}"><legend>Investor {n}</legend>
      <input type="radio" id="investors-{i}-kind"><label for="investors-{i}-kind">A person</label>
      <label for="investors-{i}-share">Investor {n}: share in %</label><input id="investors-{i}-share">
      <label for="investors-{i}-name">The company's registered name</label><input id="investors-{i}-name">
      </fieldset>"""
    names = field_names(f"""<fieldset id="investors"><legend>Investors</legend>
      {row.format(i=0, n=1)}{row.format(i=1, n=2)}</fieldset>
      <label for="directors-1">Another director</label><input id="directors-1">""")
    assert names["investors-1-name"] == FieldName("The company's registered name", "Investor 2")
    assert names["investors-0-name"] == FieldName("The company's registered name", "Investor 1")
    assert names["investors-1-share"] == FieldName("Investor 2: share in %", None)  # unique: as it is
    # A row's choice and the row itself share the row's legend: one name, not a repeated one.
    assert names["investors-1-kind"] == names["investors-1"] == FieldName("Investor 2", None)
    assert names["directors-1"] == FieldName("Another director", None)


def test_broken_markup_does_not_break_the_page():
    names = field_names('<div><label for="a">A<p>still A</label><input id="a"></span></fieldset><legend>x')
    assert names["a"].label == "Astill A"
    assert field_names("") == {}


# --- base.html ----------------------------------------------------------------------------------------------

def render_base(content: str, errors: list[FieldError], **context) -> str:
    """base.html around `content`, with `errors` (in English)."""
    i18n.activate(context.pop("lang", "en"))
    region = SimpleNamespace(region="LJ", region_name="Liangjiang New Area", region_name_zh="两江新区")
    template = TEMPLATES.env.from_string('{% extends "base.html" %}{% block content %}' + content + "{% endblock %}")
    return template.render(region=region, region_label="Liangjiang New Area", languages=[], here="/", lang="en",
                           dir="ltr", errors=errors, **context)


def test_the_summary_names_each_field_and_links_to_it():
    page = render_base(
        '<label for="officers-0-name">Name &amp; <i>title</i></label><input id="officers-0-name">'
        '<label for="partners-1-id_number">Identity card number</label><input id="partners-1-id_number">'
        '<input id="unnamed">',
        [FieldError("officers/0/name", "Fill in this field."),
         FieldError("partners.1.id_number", "Enter 18 characters."),
         FieldError("unnamed", "Something <wrong>."), FieldError("elsewhere", "Not on this page."),
         FieldError("", "The service is busy.")])
    assert summary(page) == [("#officers-0-name", "Name & title: Fill in this field."),
                             ("#partners-1-id_number", "Identity card number: Enter 18 characters."),
                             ("#unnamed", "Something <wrong>."), ("#elsewhere", "Not on this page.")]
    assert "<li>The service is busy.</li>" in page
    assert "Name &amp; title: Fill in this field." in page and "Something &lt;wrong&gt;." in page
    assert page.count('id="officers-0-name"') == 1  # the content is rendered once


def test_a_page_can_name_fields_itself():
    """Its names (render() translates them) win over what the page shows; a reason that already
    starts with the field's name is not named twice."""
    page = render_base('<label for="mrz">MRZ</label><input id="mrz">',
                       [FieldError("surname", "Fill in this field."), FieldError("mrz", "MRZ: too short."),
                        FieldError("consents.processing", "Tick the box.")],
                       error_links={"surname": "/apply/about-you"},
                       error_labels={"surname": "姓 <b>", "consents.processing": "Processing"}, lang="zh")
    assert summary(page) == [("/apply/about-you#surname", "姓 <b>：Fill in this field."),
                             ("#mrz", "MRZ: too short."), ("#consents-processing", "Processing：Tick the box.")]
    assert "姓 &lt;b&gt;：" in page


# --- the forms ----------------------------------------------------------------------------------------------

def test_sign_up_names_the_email_and_the_password(node):
    b = Browser(node)
    r = b.submit("/signup", "/signup", {"email": "not-an-email", "password": ""})
    assert r.status_code == 422
    links = summary(r.text)
    assert links == [("#email", f"Email address: {beside(r.text, 'email')}"),
                     ("#password", "Password: Fill in this field.")]
    for href, _text in links:
        assert_leads_to_a_field(r.text, href)


def test_an_administrator_creating_an_official_sees_each_field_named(node):
    admin, _ = official_browser(node, "lj-admin")
    admin.get("/official/admin/officials/new")
    r = admin.post("/official/admin/officials/new", {"username": "", "display_name": "", "roles": "chief"})
    assert r.status_code == 422
    links = summary(r.text)
    assert [href for href, _ in links] == ["#username", "#display_name", "#roles"]
    assert links[0][1].startswith("Username: ") and links[1][1].startswith("Name shown to others: ")
    assert links[2][1].startswith("Roles in ")  # the legend of the group of checkboxes
    for href, text in links:
        assert text.endswith(beside(r.text, href[1:]))
        assert_leads_to_a_field(r.text, href)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_application_names_each_consent(node, lang):
    """Each consent's box says "I agree": the page names them (identity.pages.summary_labels), translated."""
    token = Api(node).applicant()
    fields = form_fields(Person())
    del fields["consent_processing"], fields["consent_sensitive_data"]
    fields["surname"] = ""
    r = apply_page(node, lang, token, fields)
    assert r.status_code == 422
    links = dict(summary(r.text))
    refused = "We cannot process your application without this consent."
    wanted = {
        "en": {"#surname": "Surname: Fill in this field.",
               "#consents-processing": f"Processing your personal information: {refused}",
               "#consents-sensitive_data": f"Sensitive personal information: {refused}"},
        "zh": {"#surname": "姓：请填写此项。",
               "#consents-processing": "处理您的个人信息：没有这项同意，我们无法处理您的申请。",
               "#consents-sensitive_data": "敏感个人信息：没有这项同意，我们无法处理您的申请。"},
    }[lang]
    for href, text in wanted.items():
        assert links[href] == text
        assert_leads_to_a_field(r.text, href)


def company_form(node, lang: str = "en"):
    """A founder's browser on the formation form (a name reserved), reading `lang`, and the form's
    values: the founder 60%, a company registered abroad as investor 2 with 40% but nothing else."""
    founders = Founders(Api(node))
    (founder_token, founder), (_token, supervisor) = founders.new("BENALI"), founders.new("HADDAD")
    b = signed_in(node, founder_token)
    b.get("/my/companies/name")
    reserved = b.post("/my/companies/name", {"name_zh": NAME_ZH, "name_en": NAME_EN, "action": "reserve"})
    reservation = reserved.headers["location"].split("=", 1)[1]
    if lang != "en":
        b.client.cookies.set(i18n.LANGUAGE_COOKIE, lang)
    assert b.get(f"/my/companies/new?name={reservation}").status_code == 200
    data = {**form_data(founder, supervisor), "name_reservation_id": reservation,
            "investors/0/share_percent": "60", "investors/1/kind": "legal", "investors/1/share_percent": "40",
            "directors/1/e_resident_number": "LJ-ER-2026-999999"}
    return b, data


def test_the_company_form_names_the_row_of_each_problem(node):
    b, data = company_form(node)
    r = b.post("/my/companies/new", data)
    assert r.status_code == 422
    links = summary(r.text)
    assert [href for href, _ in links] == ["#investors-1-name", "#directors-1-e_resident_number",
                                           "#investors-1-owner_name"]
    assert links[0][1] == ("Investor 2 (optional) – The company's registered name: "
                           f"{beside(r.text, 'investors-1-name')}")
    assert links[2][1] == ("Investor 2 (optional) – The person who ultimately owns or controls it: "
                           f"{beside(r.text, 'investors-1-owner_name')}")
    # Each director's row has its own label: the summary tells them apart.
    assert links[1][1].endswith("Director 2 (optional): " + beside(r.text, "directors-1-e_resident_number"))
    for href, _text in links:
        assert_leads_to_a_field(r.text, href)


def test_the_company_form_names_its_fields_in_chinese(node):
    b, data = company_form(node, "zh")
    r = b.post("/my/companies/new", data)
    assert r.status_code == 422 and '<html lang="zh"' in r.text
    links = dict(summary(r.text))
    assert links["#investors-1-name"] == f"投资人 2（可选）——公司注册名称：{beside(r.text, 'investors-1-name')}"
    assert links["#investors-1-owner_name"].startswith("投资人 2（可选）——最终拥有或控制该公司的自然人：")
    r = b.post("/my/companies/new", {**data, "registered_capital": "", "investors/1/kind": "natural"})
    assert summary(r.text) == [("#registered_capital", "金额：请填写此项。")]
