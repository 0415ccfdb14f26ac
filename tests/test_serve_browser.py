"""munch serve's page in a real browser: headless Chromium (Debian's chromium and chromium-driver) driven by selenium.

The server runs in a thread (uvicorn) on a free port of 127.0.0.1 with the tiny model of
conftest.tiny_run; the page is loaded, a sentence typed, the button pressed, and the
highlighted entities read back from the page and compared with Tagger.predict. The README's
test command installs Chromium when it is missing (apt-get); where it cannot, this test is
skipped with a message. MUNCHABLES_SCREENSHOT=PATH saves a screenshot of the page.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.request

import pytest

pytest.importorskip("fastapi", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")
pytest.importorskip("fastapi_offline", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")
uvicorn = pytest.importorskip("uvicorn", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the test extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from munchables.tagging.serve import create_app  # noqa: E402
from munchables.tagging.tagger import Tagger  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="headless Chromium is not installed (Debian: apt-get install -y chromium chromium-driver); "
           "the README's test command installs it where apt-get works")

SENTENCE = "Patients treated with aspirin reported headache . Caffeine reduced the risk of fever in 12 mice ."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_run):
    tagger = Tagger.load(tiny_run.out)
    port = free_port()
    config = uvicorn.Config(create_app(tagger, model_name="tiny"), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "health", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    yield url, tagger
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def test_the_page_highlights_the_entities_by_type(server, browser):
    url, tagger = server
    browser.get(url)
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: Select(d.find_element(By.ID, "heads")).options)  # /health answered
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(SENTENCE)
    browser.find_element(By.ID, "tag").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#result mark.entity")))

    expected = tagger.predict(SENTENCE)
    assert {e["type"] for e in expected} == {"Chemical", "Disease"}, "the tiny model should know its templates"
    marks = browser.find_elements(By.CSS_SELECTOR, "#result mark.entity")
    # a mark's text is the entity's text followed by its type label
    shown = [(label, m.text.removesuffix(label).strip()) for m in marks
             for label in [m.find_element(By.CSS_SELECTOR, ".label").text]]
    assert [(label.upper(), text) for label, text in shown] == [(e["type"].upper(), e["text"]) for e in expected]
    legend = {m.text: m.value_of_css_property("background-color") for m in
              browser.find_elements(By.CSS_SELECTOR, "#legend mark")}
    assert set(legend) == set(tagger.types())
    for mark, e in zip(marks, expected):  # each highlight has its type's colour in the legend
        assert mark.value_of_css_property("background-color") == legend[e["type"]]
    rows = browser.find_elements(By.CSS_SELECTOR, "#entities tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == [e["text"] for e in expected]
    assert browser.find_element(By.ID, "download").is_enabled()
    if os.environ.get("MUNCHABLES_SCREENSHOT"):
        browser.save_screenshot(os.environ["MUNCHABLES_SCREENSHOT"])


def test_the_page_shows_an_error_in_one_line(server, browser):
    url, _ = server
    browser.get(url)
    WebDriverWait(browser, 20).until(lambda d: Select(d.find_element(By.ID, "heads")).options)
    browser.execute_script("document.getElementById('heads').add(new Option('nosuchcorpus', 'nosuchcorpus'));"
                           "document.getElementById('heads').value = 'nosuchcorpus';")
    browser.find_element(By.ID, "tag").click()
    WebDriverWait(browser, 20).until(lambda d: "nosuchcorpus" in d.find_element(By.ID, "status").text)
    assert "error" in browser.find_element(By.ID, "status").get_attribute("class")


def test_the_api_page_renders_offline(server, browser):
    """Swagger UI from the package (no CDN) renders the OpenAPI 3.1 description, /tag included."""
    url, _ = server
    browser.get(url + "docs")
    wait = WebDriverWait(browser, 30)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    assert "munchables" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    wait.until(lambda d: any("/tag" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")))
    assert not browser.find_elements(By.CSS_SELECTOR, ".swagger-ui .errors-wrapper")
