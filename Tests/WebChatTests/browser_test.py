#!/usr/bin/env python3
"""Drives the web chat demo page in headless Chromium (Selenium) and prints what it saw
as JSON. Arguments: the demo page URL, the screenshot path.

Steps: open the page, send two messages, wait for both replies; screenshot; reload and
read the conversation again; replace the stored token by a forged one (same visitor,
wrong signature), reload, read again; and ask the API directly with the forged token.
"""
import json, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

url, shot = sys.argv[1], sys.argv[2]
opts = Options()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,760"]:
    opts.add_argument(a)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
out = {}
try:
    wait = WebDriverWait(driver, 20)

    def texts():
        return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".ds-msg")]

    def send(text):
        field = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".ds-input"))
        field.send_keys(text)
        driver.find_element(By.CSS_SELECTOR, ".ds-send").click()

    driver.get(url)
    wait.until(lambda d: d.execute_script("return localStorage.length > 0"))
    send("hello there")
    wait.until(lambda d: len(texts()) >= 2)
    send("what did I say?")
    wait.until(lambda d: len(texts()) >= 4)
    out["first"] = texts()
    driver.save_screenshot(shot)

    driver.refresh()
    wait.until(lambda d: len(texts()) >= 4)
    out["after_reload"] = texts()

    token = driver.execute_script("var k = Object.keys(localStorage)[0]; return JSON.parse(localStorage[k]).token;")
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "ffff")
    out["forged_poll_status"] = driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        fetch(location.pathname.replace(/\\/demo$/, '') + '/poll?after=0&wait=0', {headers: {Authorization: 'Bearer ' + arguments[0]}})
          .then(function (r) { return r.text().then(function (b) { done([r.status, b]); }); });
    """, forged)
    driver.execute_script("var k = Object.keys(localStorage)[0]; var s = JSON.parse(localStorage[k]); s.token = arguments[0]; localStorage[k] = JSON.stringify(s);", forged)
    driver.refresh()
    # The widget is refused, starts a new visitor, and shows none of the old conversation.
    wait.until(lambda d: d.execute_script("var k = Object.keys(localStorage)[0]; return JSON.parse(localStorage[k]).token") != forged)
    time.sleep(1)
    out["after_forgery"] = texts()
finally:
    driver.quit()
print(json.dumps(out))
