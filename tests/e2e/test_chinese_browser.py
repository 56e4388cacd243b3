"""A person who reads only Chinese applies through the task list, follows the case on its timeline and
downloads the credential, in a browser whose language is Chinese, against a real node process. Every
control is found by its Chinese label, so an untranslated one fails the test. The officials' part goes
through the API (tests/e2e/test_arabic_browser.py does the same in Arabic, with refusals on the way)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from pathlib import Path

import httpx
import pytest

from eresident.identity.mrz import make_td3
from tests.e2e.conftest import reader_page
from tests.e2e.test_arabic_browser import _officials_approve
from tests.factories import png_bytes

pytestmark = pytest.mark.slow

EMAIL = "li.wenjing@example.sg"
PASSWORD = "lanterns over the Jialing 1991"
PASSPORT = "K12345678"
MRZ = "\n".join(make_td3(surname="LI", given_names="WENJING", document_number=PASSPORT, nationality="SGP",
                         birth_date=date(1991, 9, 14), sex="F", expiry_date=date(2033, 3, 2), issuing_state="SGP"))


def test_a_chinese_reader_applies_follows_the_timeline_and_downloads_the_credential(browser, live_node, tmp_path):
    from playwright.sync_api import expect

    node = live_node
    context, page, shot = reader_page(browser, node, folder="chinese", locale="zh-CN",
                                      accept_language="zh-CN,zh;q=0.9")
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(8, 8))

    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh")
    expect(page.get_by_role("heading", level=1)).to_contain_text("电子居民")
    shot(page, "start")

    page.get_by_role("link", name="立即开始").click()
    page.get_by_label("电子邮箱地址", exact=True).fill(EMAIL)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="创建账户").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("请查收电子邮件")
    page.get_by_role("link", name="确认我的电子邮箱地址").click()
    page.get_by_role("button", name="确认").click()
    expect(page.get_by_role("status")).to_contain_text("您的电子邮箱地址已确认")
    page.get_by_label("电子邮箱地址", exact=True).fill(EMAIL)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("您的电子居民身份")

    page.get_by_role("link", name="申请电子居民身份").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("申请电子居民身份")
    expect(page.locator("#task-about-you-status")).to_have_text("未开始")
    shot(page, "apply-tasks")

    def section(name: str, slug: str, fill) -> None:
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
        fill()
        page.get_by_role("button", name="保存并继续").click()
        expect(page).to_have_url(f"{node.base_url}/apply")
        expect(page.locator(f"#task-{slug}-status")).to_have_text("已完成")

    def about_you() -> None:
        page.get_by_label("姓", exact=True).fill("LI")
        page.get_by_label("名", exact=True).fill("WENJING")
        page.get_by_label("出生日期", exact=True).fill("1991-09-14")
        page.get_by_label("性别（与护照一致）", exact=True).select_option("F")
        page.get_by_label("国籍", exact=True).select_option("SG")
        page.get_by_label("居住国家", exact=True).select_option("DZ")
        shot(page, "apply-about-you")

    def contact() -> None:
        page.get_by_label("电话号码", exact=True).fill("+213 21 11 22 33")
        page.get_by_label("住址", exact=True).fill("3 Rue Didouche Mourad, Algiers")

    def passport() -> None:
        page.get_by_label("护照号码", exact=True).fill(PASSPORT)
        page.get_by_label("有效期至", exact=True).fill("2033-03-02")
        page.get_by_label("机读区", exact=True).fill(MRZ)

    def documents() -> None:
        page.locator("#photo").set_input_files(str(photo))

    def purpose() -> None:
        page.get_by_label("申请电子居民身份的目的", exact=True).fill("我在阿尔及尔经营茶叶贸易，希望在重庆设立公司。")

    def site() -> None:
        page.get_by_label("进行身份核验的服务站", exact=True).select_option(label="MK Space Algiers, Algiers")

    def consent() -> None:
        for purpose_ in ("processing", "sensitive_data", "cross_region_sharing"):
            page.locator(f"#consents-{purpose_}").check()

    for name, slug, fill in (("关于您", "about-you", about_you), ("联系方式", "contact", contact),
                             ("护照", "passport", passport), ("照片和文件", "documents", documents),
                             ("申请理由", "purpose", purpose), ("身份核验地点", "site", site),
                             ("同意", "consent", consent)):
        section(name, slug, fill)
    shot(page, "apply-tasks-complete")

    page.get_by_role("link", name="检查您的回答").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("提交申请前请检查您的回答")
    expect(page.locator("main")).to_contain_text(PASSPORT)
    expect(page.locator("main")).to_contain_text("新加坡")  # the country named in Chinese
    shot(page, "apply-check")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("申请已提交")
    case_number = page.get_by_role("status").locator("strong").inner_text().strip()
    assert re.fullmatch(r"LJ-2026-\d{6}", case_number), case_number
    shot(page, "applied")

    # The case's timeline in Chinese: submitted, the identity check now (waiting for the applicant),
    # the review and decision to come.
    page.get_by_role("link", name="预约身份核验").click()
    panel = page.locator("section.panel", has_text=case_number)
    timeline = panel.locator("ol.timeline")
    expect(timeline.locator("li.tl-done").first).to_contain_text("申请已提交")
    expect(timeline.locator("li.tl-now")).to_contain_text("境外服务点身份核验")
    expect(timeline.locator("li.tl-now")).to_contain_text("此步骤正在等待您操作。")
    expect(timeline.locator("li.tl-next").first).to_contain_text("审核")
    expect(timeline.locator("li.tl-next").first).to_contain_text("由两江新区的审核人员办理")  # the region in Chinese
    shot(page, "my-timeline")
    panel.get_by_label("方式").select_option("video")
    panel.get_by_role("button", name="预约此时间").click()
    panel = page.locator("section.panel", has_text=case_number)
    expect(panel.locator("ol.timeline li.tl-now")).to_contain_text("您已预约（见下方）")
    shot(page, "my-booked")

    (application_id,) = node.query("SELECT id FROM applications WHERE case_number = :n", {"n": case_number})[0]
    _officials_approve(node, str(uuid.UUID(str(application_id))))
    page.reload()
    expect(page.get_by_role("heading", name="您已成为电子居民")).to_be_visible()
    panel = page.locator("section.panel", has_text=case_number)
    expect(panel.locator("ol.timeline li.tl-now")).to_have_count(0)
    expect(panel.locator("ol.timeline li").last).to_contain_text("已批准：您已成为电子居民")
    shot(page, "my-approved")
    with page.expect_download() as download:
        page.get_by_role("button", name="下载我的签名凭证").click()
    credential = json.loads(Path(download.value.path()).read_text())
    verdict = httpx.post(f"{node.base_url}/api/v1/credentials/verify", json={"credential": credential["credential"]},
                         timeout=30).json()
    assert verdict["valid"] is True and verdict["disclosed"]["family_name"] == "LI", verdict
    context.close()
