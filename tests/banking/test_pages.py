"""The founder's pages after the licence, against the real sandbox bank process: the tax deadlines,
asking a bank with consent to the exact text, the video call the bank asks for, booked on the page,
and the opened accounts; a refusal shows beside its field with nothing written."""

from __future__ import annotations

import re

import pytest

from tests.banking.conftest import real_time
from tests.banking.test_bank import bank_view, company, deliver_until_sent, journey, wait_for  # noqa: F401
from tests.test_pages import Browser

pytestmark = pytest.mark.slow


def test_tax_deadlines_and_a_bank_account_through_the_pages(served_node, bank, journey):  # noqa: F811
    api, founders, people, _admin = journey
    founder_token, _ = people[0]
    bank.start()
    bank.pin(served_node)
    # USD 2,000,000 is above the sandbox bank's threshold: it asks for a video call.
    uscc = company(api, founders, people, ("重庆云帆科技有限公司", "Chongqing Yunfan Technology Co., Ltd."),
                   pre_consent=False, registered_capital="2000000", currency="USD")
    b = Browser(served_node)
    b.client.cookies.set("er_session", founder_token)

    formation = api.client.get("/api/v1/formations", headers={"Authorization": f"Bearer {founder_token}"}).json()
    company_page = b.get(f"/my/companies/{formation[0]['id']}")
    assert f'href="/my/companies/{uscc}/tax"' in company_page.text and f'href="/my/companies/{uscc}/bank"' in company_page.text

    tax = b.get(f"/my/companies/{uscc}/tax")
    assert tax.status_code == 200 and uscc in tax.text
    # A year ahead: every quarterly (or monthly) filing and the annual return, each with its date.
    assert len(re.findall(r"<tr>\s*<td>", tax.text)) >= 9
    assert "Due by" in tax.text and ("Provisional" in tax.text or "published" in tax.text)

    page = b.get(f"/my/companies/{uscc}/bank")
    assert page.status_code == 200 and "Ask a partner bank" in page.text
    sha = re.search(r'name="consent_text_sha256" value="([0-9a-f]{64})"', page.text).group(1)
    code = re.search(r'name="bank" value="([^"]+)"', page.text).group(1)
    r = b.post(f"/my/companies/{uscc}/bank/requests", {"bank": code, "consent_text_sha256": sha})
    assert r.status_code == 422 and f'id="agree-{code}-error"' in r.text  # no consent: nothing asked
    # The summary's link leads to this bank's box, and the message stands beside that box only.
    assert f'href="#agree-{code}"' in r.text and f'id="agree-{code}"' in r.text
    assert r.text.count('class="field-error"') == 1
    assert api.client.get(f"/api/v1/companies/{uscc}/bank",
                          headers={"Authorization": f"Bearer {founder_token}"}).json()["requests"] == []
    r = b.post(f"/my/companies/{uscc}/bank/requests", {"bank": code, "consent_text_sha256": sha, "agree": "yes"})
    assert r.status_code == 303, r.text[-1500:]
    assert "Waiting to be sent to the bank" in b.get(f"/my/companies/{uscc}/bank").text

    real_time(served_node)
    deliver_until_sent(served_node)
    wait_for(lambda: bank_view(api, founder_token, uscc)["status"] == "video_call_required", timeout=30)
    page = b.get(f"/my/companies/{uscc}/bank")
    slots = re.findall(r'name="slot" value="([^"]+)"', page.text)
    assert len(slots) == 3 and "Beijing time" in page.text
    r = b.post(f"/my/companies/{uscc}/bank/video-call", {})
    assert r.status_code == 422 and 'id="slot-error"' in r.text
    r = b.post(f"/my/companies/{uscc}/bank/video-call", {"slot": slots[0]})
    assert r.status_code == 303, r.text[-1500:]
    deliver_until_sent(served_node)
    booked = wait_for(lambda: (v := bank_view(api, founder_token, uscc))["status"] == "video_call_booked" and v,
                      timeout=30)
    assert "Video call booked" in b.get(f"/my/companies/{uscc}/bank").text
    assert bank.admin("POST", f"/admin/video-calls/{booked['bank_reference']}/complete",
                      json={"passed": True}).status_code == 200
    opened = wait_for(lambda: (v := bank_view(api, founder_token, uscc))["status"] == "opened" and v, timeout=30)
    page = b.get(f"/my/companies/{uscc}/bank")
    assert "Accounts opened" in page.text
    assert all(a["number"] in page.text for a in opened["accounts"])
    # Someone else's company is not found.
    other = Browser(served_node)
    other.client.cookies.set("er_session", people[1][0])
    assert other.get(f"/my/companies/{uscc}/bank").status_code == 404
    assert other.get(f"/my/companies/{uscc}/tax").status_code == 404
