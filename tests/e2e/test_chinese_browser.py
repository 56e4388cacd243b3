"""A person who reads only Chinese applies through the task list, follows the case on its timeline and
downloads the credential, in a browser whose language is Chinese, against a real node process. Every
control is found by its Chinese label, so an untranslated one fails the test. The officials' part goes
through the API (tests/e2e/test_arabic_browser.py does the same in Arabic, with refusals on the way)."""

from __future__ import annotations

from datetime import date

import pytest

from eresident.identity.mrz import make_td3
from tests.e2e.conftest import reader_page
from tests.e2e.journeys import Applicant, ReaderJourney, Words
from tests.factories import png_bytes

pytestmark = pytest.mark.slow

EMAIL = "li.wenjing@example.sg"
PASSWORD = "lanterns over the Jialing 1991"
PASSPORT = "K12345678"
MRZ = "\n".join(make_td3(surname="LI", given_names="WENJING", document_number=PASSPORT, nationality="SGP",
                         birth_date=date(1991, 9, 14), sex="F", expiry_date=date(2033, 3, 2), issuing_state="SGP"))
APPLICANT = Applicant(email=EMAIL, password=PASSWORD, surname="LI", given_names="WENJING", birth_date="1991-09-14",
                      sex="F", nationality="SG", residence="DZ", address="3 Rue Didouche Mourad, Algiers",
                      passport=PASSPORT, passport_expiry="2033-03-02", mrz=MRZ,
                      purpose="我在阿尔及尔经营茶叶贸易，希望在重庆设立公司。")
CHINESE = Words(
    start="立即开始", email="电子邮箱地址", password="密码", create_account="创建账户", check_email="请查收电子邮件",
    confirm_link="确认我的电子邮箱地址", confirm="确认", confirmed="您的电子邮箱地址已确认", sign_in="登录",
    my_heading="您的电子居民身份", apply="申请电子居民身份", not_started="未开始", save="保存并继续",
    completed="已完成", surname="姓", given_names="名", birth_date="出生日期", sex="性别（与护照一致）",
    nationality="国籍", residence="居住国家", phone="电话号码", address="住址", passport_number="护照号码",
    passport_expiry="有效期至", mrz="机读区", purpose="申请电子居民身份的目的", site="进行身份核验的服务站",
    check_answers="检查您的回答", check_answers_heading="提交申请前请检查您的回答", send="提交申请",
    sent="申请已提交", book_link="预约身份核验", method="方式", book="预约此时间",
    approved_heading="您已成为电子居民", download="下载我的签名凭证")


def test_a_chinese_reader_applies_follows_the_timeline_and_downloads_the_credential(browser, live_node, tmp_path):
    from playwright.sync_api import expect

    node = live_node
    context, page, shot = reader_page(browser, node, folder="chinese", locale="zh-CN",
                                      accept_language="zh-CN,zh;q=0.9")
    journey = ReaderJourney(page, node, CHINESE, APPLICANT, shot)
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(8, 8))

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh")
    expect(page.get_by_role("heading", level=1)).to_contain_text("电子居民")
    shot(page, "start")

    journey.sign_up()
    journey.confirm_and_sign_in()
    journey.open_task_list()
    shot(page, "apply-tasks")

    journey.section("关于您", "about-you", journey.about_you, shot="apply-about-you")
    journey.section("联系方式", "contact", lambda: journey.contact("+213 21 11 22 33"))
    journey.section("护照", "passport", journey.passport)
    journey.section("照片和文件", "documents", lambda: journey.photo(photo))
    journey.section("申请理由", "purpose", journey.purpose)
    journey.section("身份核验地点", "site", journey.site)
    journey.section("同意", "consent", journey.consent)
    shot(page, "apply-tasks-complete")

    journey.open_check_answers()
    expect(page.locator("main")).to_contain_text(PASSPORT)
    expect(page.locator("main")).to_contain_text("新加坡")  # the country named in Chinese
    shot(page, "apply-check")
    case_number = journey.send()
    shot(page, "applied")

    # The case's timeline in Chinese: submitted, the identity check now (waiting for the applicant),
    # the review and decision to come.
    panel = journey.open_case(case_number)
    timeline = panel.locator("ol.timeline")
    expect(timeline.locator("li.tl-done").first).to_contain_text("申请已提交")
    expect(timeline.locator("li.tl-now")).to_contain_text("境外服务点身份核验")
    expect(timeline.locator("li.tl-now")).to_contain_text("此步骤正在等待您操作。")
    expect(timeline.locator("li.tl-next").first).to_contain_text("审核")
    expect(timeline.locator("li.tl-next").first).to_contain_text("由两江新区的审核人员办理")  # the region in Chinese
    shot(page, "my-timeline")
    panel = journey.book_by_video(panel, case_number)
    expect(panel.locator("ol.timeline li.tl-now")).to_contain_text("您已预约（见下方）")
    shot(page, "my-booked")

    journey.officials_approve(case_number)
    panel = page.locator("section.panel", has_text=case_number)
    expect(panel.locator("ol.timeline li.tl-now")).to_have_count(0)
    expect(panel.locator("ol.timeline li").last).to_contain_text("已批准：您已成为电子居民")
    shot(page, "my-approved")
    journey.download_credential()
    context.close()
