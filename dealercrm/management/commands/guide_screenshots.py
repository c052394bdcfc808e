"""`manage.py guide_screenshots`: the user guide's screenshots, made from the demo so they never go stale.

Serves this database on 127.0.0.1:<port> (runserver, DEBUG on), walks each task of the guide in headless Chromium
(Playwright) in zh-hans and in English, and writes `static/guide/<language>/<task>.png` (the consultant's tasks, on a
390 px phone) and `<task>-desk.jpg` (the manager's and the group admin's, at a desk). It logs in as the demo users
and logs one walk-in per language (a new demo customer), so run it on a demo database, never on a store's data."""

import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

OUT = Path(__file__).resolve().parents[2] / "static" / "guide"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "demo1234"
LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1280, "height": 800}}
# What the guide's walk-in example writes, per language.
WALK_IN = {"zh-hans": ("王先生", "电话回访：客户周末想带家人来试驾，关注油耗和后排空间。"),
           "en": ("Mr Wang", "Called back: they want to bring the family for a test drive at the weekend.")}


class Command(BaseCommand):
    help = "Make the user guide's screenshots from the demo (both languages), into static/guide/."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--seed", action="store_true", help="Seed the demo first when the database is empty.")
        parser.add_argument("--language", choices=list(LOCALES), action="append", help="Repeatable; default both.")

    def handle(self, *args, port=8025, seed=False, language=None, **options):
        if not settings.DEBUG:
            raise CommandError("Run it with DEBUG=1 on a demo database (it logs in with the demo passwords).")
        if not Path(CHROMIUM).exists():
            raise CommandError(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium fonts-noto-cjk")
        if seed:
            call_command("seed_demo", if_empty=True)
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                                  cwd=settings.BASE_DIR, env={**os.environ, "DEBUG": "1"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_for(base)
            from playwright.sync_api import sync_playwright

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                for lang in language or list(LOCALES):
                    out = OUT / lang
                    out.mkdir(parents=True, exist_ok=True)
                    self._consultant(browser, base, lang, out)
                    self._manager(browser, base, lang, out)
                    self._admin(browser, base, lang, out)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
        total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
        self.stdout.write(f"{sum(1 for _ in OUT.rglob('*.*'))} screenshots in {OUT} ({total / 1e6:.1f} MB)")

    def _wait_for(self, base):
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/accounts/login/", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise CommandError(f"The server at {base} did not answer.")

    def _context(self, browser, base, lang, username, device):
        context = browser.new_context(locale=LOCALES[lang], **device)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{base}/accounts/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        return context, page

    def _save(self, target, path: Path):
        """An element or a page's viewport: PNG for the phone, JPEG (quality 70) for the desk."""
        if path.suffix == ".jpg":
            target.screenshot(path=str(path), type="jpeg", quality=70)
        else:
            target.screenshot(path=str(path))
        self.stdout.write(f"  {path.relative_to(OUT.parent.parent)}")

    def _consultant(self, browser, base, lang, out):
        context, page = self._context(browser, base, lang, "pudong_sales1", PHONE)
        name, note = WALK_IN[lang]
        # Log a walk-in: the quick form on the workspace, as the guide's steps say.
        page.goto(f"{base}/")
        quick = page.locator("#quick-visit")
        quick.locator("input[name=name]").fill(name)
        quick.locator("input[name=phone]").fill(f"139{random.randrange(10**8):08d}")
        series = quick.locator("select[name=series] option:not([value=''])").first.get_attribute("value")
        quick.locator("select[name=series]").select_option(series)
        quick.locator("label[for=id_grade_2]").click()  # B
        quick.locator("button[type=submit]").click()
        page.locator("#quick-visit .alert-success").wait_for()
        page.locator("#quick-visit").scroll_into_view_if_needed()
        self._save(page.locator("#quick-visit"), out / "log-a-walk-in.png")
        # Write a follow-up: the new customer's page, the follow-up form filled in.
        page.locator("#quick-visit .alert-success a").click()
        page.wait_for_load_state()
        lead_url = page.url
        actions = page.locator(".lead-actions")
        actions.locator("select[name=method]").select_option(index=1)
        actions.locator("textarea[name=content]").fill(note)
        actions.scroll_into_view_if_needed()
        self._save(actions, out / "write-a-follow-up.png")
        # Record a deal: the deal tab (not saved: the customer stays open for the next steps).
        page.locator("#tab-deal").click()
        page.locator("#pane-deal.show").wait_for()
        self._save(actions, out / "record-a-deal.png")
        # File a defeat: the application form (not filed).
        lead_pk = lead_url.rstrip("/").rsplit("/", 1)[-1]
        page.goto(f"{base}/defeats/leads/{lead_pk}/apply/")
        self._save(page, out / "file-a-defeat.png")
        # Care for base clients: the care queue.
        page.goto(f"{base}/base-clients/care/")
        self._save(page, out / "care-for-base-clients.png")
        context.close()

    def _manager(self, browser, base, lang, out):
        context, page = self._context(browser, base, lang, "pudong_manager", DESK)
        page.goto(f"{base}/defeats/verify/")
        self._save(page, out / "verify-defeats-desk.jpg")
        page.goto(f"{base}/funnel/")
        page.wait_for_load_state("networkidle")
        self._save(page, out / "read-the-funnel-desk.jpg")
        self._import(page, base, lang, out)
        page.goto(f"{base}/reports/monthly-pack/")
        page.wait_for_load_state("networkidle")
        self._save(page, out / "print-the-monthly-pack-desk.jpg")
        context.close()

    def _import(self, page, base, lang, out):
        """Upload a three-row workbook and show the check (nothing is imported)."""
        from openpyxl import Workbook

        today = timezone.localdate()
        book = Workbook()
        sheet = book.active
        sheet.append(["姓名", "电话", "到店日期", "来源", "级别"])
        for i, (who, grade) in enumerate([("赵女士", "B"), ("钱先生", "C"), ("孙先生", "")]):
            sheet.append([who, f"137{random.randrange(10**8):08d}", (today - timedelta(days=3 - i)).isoformat(), "自来", grade])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ("展厅登记表.xlsx" if lang == "zh-hans" else "showroom-visits.xlsx")
            book.save(path)
            page.goto(f"{base}/reports/imports/")
            page.locator("input[type=file]").set_input_files(str(path))
            with page.expect_navigation():
                page.locator("main form button[type=submit]").last.click()
            page.wait_for_load_state("networkidle")
        self._save(page, out / "import-a-workbook-desk.jpg")

    def _admin(self, browser, base, lang, out):
        context, page = self._context(browser, base, lang, "admin", DESK)
        page.goto(f"{base}/funnel/?store=all")
        page.wait_for_load_state("networkidle")
        stores = page.locator("#fnl-stores")
        stores.scroll_into_view_if_needed()
        self._save(page, out / "compare-stores-desk.jpg")
        context.close()
