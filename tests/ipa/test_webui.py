"""The plugin's web UI pages in a real browser (headless Chromium through selenium) inside FreeIPA's own
web UI, against FreeIPA's real server API.

Needs a running FreeIPA web UI with the plugin loaded, which this project does not ship: the development
tool /work/shared/tools/ipa-webui serves one (FreeIPA 4.9.12's UI and server code, a lab 389-ds) and
writes its URL, user and password to OUT/serve.url. Point IPA_WEBUI_OUT at that directory:

    /work/shared/tools/ipa-webui/run --plugin-dir ipa_plugin --freeipa-git <git dir> &
    IPA_WEBUI_OUT=/tmp/ipa-webui-out .venv/bin/python -m pytest -q tests/ipa/test_webui.py

Every step is checked against the server through its JSON-RPC API from the same browser session, so what
the page did is what FreeIPA stored. Skips without IPA_WEBUI_OUT (or without selenium and chromium).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

OUT = os.environ.get("IPA_WEBUI_OUT")
pytestmark = pytest.mark.skipif(
    not OUT or not (Path(OUT) / "serve.url").is_file(),
    reason="needs a running FreeIPA web UI with the plugin: set IPA_WEBUI_OUT (see this module's doc)",
)
TAG = uuid.uuid4().hex[:6]
RPC = """
const done = arguments[arguments.length - 1];
fetch('/ipa/session/json', {method: 'POST', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
    body: JSON.stringify({method: arguments[0], params: [arguments[1], arguments[2]]})})
  .then(r => r.json()).then(done, e => done({error: String(e)}));
"""


class Browser:
    """A few of the steps FreeIPA's own UI test driver (ipatests/test_webui/ui_driver.py) takes."""

    def __init__(self, driver: Any, url: str) -> None:
        from selenium.webdriver.common.by import By

        self.d, self.url, self.By = driver, url, By

    def busy(self) -> bool:
        from selenium.common.exceptions import StaleElementReferenceException

        for indicator in self.d.find_elements(self.By.CSS_SELECTOR, ".global-activity-indicator"):
            try:
                if "closed" not in (indicator.get_attribute("class") or ""):
                    return True
            except StaleElementReferenceException:  # a dialog's indicator, gone with its dialog
                continue
        return False

    def shown(self, css: str) -> bool:
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            return any(e.is_displayed() for e in self.find(css))
        except StaleElementReferenceException:  # the page was re-rendered meanwhile: look again
            return False

    def wait(self, pause: float = 0.3) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        time.sleep(pause)
        WebDriverWait(self.d, 20).until(lambda _: not self.busy())
        time.sleep(0.3)

    def login(self, user: str, password: str) -> None:
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import WebDriverWait

        self.d.get(self.url)
        WebDriverWait(self.d, 30).until(lambda _: self.d.find_elements(self.By.CSS_SELECTOR, ".login-pf"))
        self.wait()
        self.d.find_element(self.By.XPATH, "//input[@name='username']").send_keys(user)
        field = self.d.find_element(self.By.XPATH, "//input[@type='password'][@name='password']")
        field.send_keys(password)
        field.send_keys(Keys.RETURN)
        self.wait(2)

    def go(self, path: str, reload: bool = False) -> None:
        """Show `entity/facet[/pkey]` and wait until that facet is the active one."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.d.get(self.url + "#/e/" + path)
        if reload:
            self.d.refresh()
        entity, facet = path.split("/")[:2]
        css = f".active-facet[data-entity='{entity}'][data-name='{facet}']"
        WebDriverWait(self.d, 30).until(lambda _: self.shown(css))
        self.wait(0.5)

    def rpc(self, method: str, *args: Any, **options: Any) -> Any:
        out = self.d.execute_async_script(RPC, method, list(args), options)
        assert not out.get("error"), out
        return out["result"]

    def facet(self) -> Any:
        return self.d.find_element(self.By.CSS_SELECTOR, ".active-facet")

    def find(self, css: str, parent: Any = None) -> list[Any]:
        return (parent or self.d).find_elements(self.By.CSS_SELECTOR, css)

    def click(self, css: str, parent: Any = None) -> None:
        (element,) = [e for e in self.find(css, parent) if e.is_displayed()]
        element.click()
        self.wait()

    def dialog(self) -> Any:
        return self.find(".modal-dialog")[-1]

    def label_of(self, radio: Any, parent: Any) -> str:
        return self.find(f"label[for='{radio.get_attribute('id')}']", parent)[0].text

    def errors(self) -> list[str]:
        """Error dialogs and severe JavaScript errors (not the login page's expected 401s)."""
        shown = [d.text for d in self.find(".modal-dialog[data-name='error_dialog']") if d.is_displayed()]
        logs = [e["message"] for e in self.d.get_log("browser") if e["level"] == "SEVERE"]
        return shown + [m for m in logs if "401" not in m]


@pytest.fixture(scope="module")
def ui() -> Iterator[Browser]:
    try:
        from selenium import webdriver
    except ImportError:
        pytest.skip("selenium is not installed (Debian: python3-selenium)")
    if not shutil.which("chromedriver"):
        pytest.skip("chromedriver is not installed (Debian: chromium-driver)")
    url, user, password = (Path(OUT) / "serve.url").read_text().split()  # type: ignore[arg-type]
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts)
    browser = Browser(driver, url)
    try:
        browser.login(user, password)
        yield browser
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def rules(ui: Browser) -> Iterator[dict[str, str]]:
    """Rules made through the API: one recording everyone with a latency, one exempting bob."""
    names = {"all": f"webui-all-{TAG}", "bob": f"webui-bob-{TAG}", "added": f"webui-added-{TAG}"}
    ui.rpc(
        "sessionrecording_add",
        names["all"],
        usercategory="all",
        hostcategory="all",
        ipasessionrecordinglatency=7,
    )
    ui.rpc(
        "sessionrecording_add",
        names["bob"],
        ipasessionrecordingkind="exempt",
        ipasessionrecordingpriority=10,
        hostcategory="all",
    )
    ui.rpc("sessionrecording_add_user", names["bob"], user=["bob"])
    yield names
    for name in names.values():
        ui.d.execute_async_script(RPC, "sessionrecording_del", [name], {})


def test_menu_has_the_rules_and_the_test_page(ui: Browser) -> None:
    ui.go("sessionrecording/search")
    ui.click(".navbar li[data-name='policy/sessionrecording'] > a")
    items = {
        e.get_attribute("data-name"): e.text
        for e in ui.find(".navbar li[data-name^='policy/sessionrecording/']")
    }
    assert items == {
        "policy/sessionrecording/sessionrecording": "Session Recording Rules",
        "policy/sessionrecording/sessionrecordingtest": "Session Recording Test",
    }
    assert ui.find(".navbar li[data-name='policy/sessionrecording'] > a")[0].text == "Session Recording"


def test_add_dialog_offers_the_kind_as_the_same_radio_choice(ui: Browser, rules: dict[str, str]) -> None:
    ui.go("sessionrecording/search")
    ui.click(".facet-controls button[name=add]")
    dialog = ui.dialog()
    assert ui.find(".modal-title", dialog)[0].text == "Add session recording rule"
    radios = ui.find("input[type=radio][name^=ipasessionrecordingkind]", dialog)
    assert [r.get_attribute("value") for r in radios] == ["record", "exempt"]
    assert [ui.label_of(r, dialog) for r in radios] == [
        "Record the sessions",
        "Do not record the sessions (exempt)",
    ]
    assert radios[0].is_selected() and not radios[1].is_selected()  # the param's default
    assert not ui.find("input[type=text][name=ipasessionrecordingkind]", dialog)  # no free text any more
    ui.find("input[name=cn]", dialog)[0].send_keys(rules["added"])
    ui.find(f"label[for='{radios[1].get_attribute('id')}']", dialog)[0].click()
    ui.click(".rcue-dialog-buttons button[name=add]", dialog)
    assert ui.errors() == []
    shown = ui.rpc("sessionrecording_show", rules["added"])["result"]
    assert shown["ipasessionrecordingkind"] == ["exempt"]


def _sections(ui: Browser) -> dict[str, bool]:
    return {
        s.get_attribute("name"): s.is_displayed()
        for s in ui.find("div.details-section.col-sm-12[name]", ui.facet())
    }


def test_exempt_rules_hide_the_options_they_ignore(ui: Browser, rules: dict[str, str]) -> None:
    ui.go(f"sessionrecording/details/{rules['added']}")
    facet = ui.facet()
    assert _sections(ui) == {"general": True, "recording": False, "limits": False, "user": True, "host": True}
    radios = ui.find("input[type=radio][name^=ipasessionrecordingkind]", facet)
    assert radios[1].is_selected()
    ui.find(f"label[for='{radios[0].get_attribute('id')}']", facet)[0].click()  # record
    time.sleep(0.3)
    assert _sections(ui) == {"general": True, "recording": True, "limits": True, "user": True, "host": True}
    titles = [h.text for h in ui.find("div.details-section.col-sm-12 > h2", facet)]
    assert titles == ["General", "What is recorded", "Latency and limits", "Who", "Where"]
    options = [o.text for o in ui.find("select[name=ipasessionrecordinglimitaction] option", facet)]
    assert options == [
        "Default",
        "pass: record everything",
        "delay: slow the session down",
        "drop: lose what is above the rate",
    ]
    ui.find(f"label[for='{radios[1].get_attribute('id')}']", facet)[0].click()  # back to exempt
    time.sleep(0.3)
    assert _sections(ui)["recording"] is False and _sections(ui)["limits"] is False
    ui.find(f"label[for='{radios[0].get_attribute('id')}']", facet)[0].click()  # record, and save
    ui.click(".facet-controls button[name=save]", facet)
    assert ui.errors() == []
    assert ui.rpc("sessionrecording_show", rules["added"])["result"]["ipasessionrecordingkind"] == ["record"]
    assert _sections(ui)["recording"] is True


def _select(ui: Browser, value: str) -> None:
    facet = ui.facet()
    (radio,) = [r for r in ui.find("input[type=radio]", facet) if r.get_attribute("value") == value]
    radio.click()
    ui.click("button[name=next]", facet)


def _result(ui: Browser) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
    facet = ui.facet()
    summary = ui.find("p[name=test_result]", facet)[0].get_attribute("textContent")
    rows = []
    for tr in ui.find("table.content-table[name=cn] tbody tr", facet):
        cells = [td.text for td in ui.find("td", tr)]
        if len(cells) > 2:
            rows.append((cells[0], cells[1]))
    fields = {
        tr.find_elements(ui.By.TAG_NAME, "th")[0].text: tr.find_elements(ui.By.TAG_NAME, "td")[0].text
        for tr in ui.find("table[name=test_fields] tr", facet)
    }
    return summary, rows, fields


def test_the_test_page_asks_for_the_user_and_host_first(ui: Browser, rules: dict[str, str]) -> None:
    ui.go("sessionrecordingtest/run_test", reload=True)  # a fresh page: nothing chosen yet
    ui.click("button[name=run_test]", ui.facet())
    dialog = ui.dialog()
    links = [a.text for a in ui.find(".modal-body li a", dialog)]
    assert links == ["User name", "Host"]
    ui.click(".rcue-dialog-buttons button[name=ok]", dialog)


def test_the_test_page_runs_sessionrecording_test(ui: Browser, rules: dict[str, str]) -> None:
    ui.go("sessionrecordingtest/user")
    assert ui.find(".active-facet .hbac-test-title")[0].get_attribute("textContent") == "Who"
    _select(ui, "alice")
    assert ui.find(".active-facet .hbac-test-title")[0].get_attribute("textContent") == "Where"
    _select(ui, "web1.example.test")
    ui.click("button[name=next]", ui.facet())  # rules: all enabled ones
    ui.click("button[name=run_test]", ui.facet())
    assert ui.errors() == []
    summary, rows, fields = _result(ui)
    expected = ui.rpc("sessionrecording_test", user="alice", host="web1.example.test")
    assert summary == expected["summary"] == "alice is recorded on web1.example.test"
    assert (rules["all"], "Decides") in rows and (rules["bob"], "Not matched") in rows
    assert fields["Deciding rules"] == ", ".join(expected["result"]["deciding"])
    assert fields["Latency (s)"] == "7" and fields["Recorded"] == "True"

    ui.click("button[name=new_test]", ui.facet())
    _select(ui, "bob")
    _select(ui, "web1.example.test")
    ui.click("button[name=next]", ui.facet())
    ui.click("button[name=run_test]", ui.facet())
    summary, rows, fields = _result(ui)
    assert summary == "bob is not recorded on web1.example.test"
    assert rows[0] == (rules["bob"], "Decides") and (rules["all"], "Matched, overridden") in rows
    assert fields["Reason"] == f"exempted by {rules['bob']} (priority 10)"
    assert "Latency (s)" not in fields


def test_membership_dialogs_use_the_plugins_titles(ui: Browser, rules: dict[str, str]) -> None:
    ui.go(f"sessionrecording/details/{rules['added']}")
    ui.click("[name=memberuser_user] button[name=add]", ui.facet())
    dialog = ui.dialog()
    assert (
        ui.find(".modal-title", dialog)[0].text == f"Add users into session recording rule '{rules['added']}'"
    )
    ui.click(".rcue-dialog-buttons button[name=cancel]", dialog)
    assert ui.errors() == []
