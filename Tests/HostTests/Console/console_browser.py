#!/usr/bin/env python3
"""Drives the operator console in headless Chromium (Selenium) against a running gateway and
prints what it saw as JSON (the Swift test, ConsoleBrowserTests, checks it).

Arguments: a JSON object with admin (the admin listener's base URL), sms (the command that
sends a test SMS: argv list, the text appended), twilio (the fake Twilio's base URL),
operator / viewer (tokens), shots (folder for console-laptop.png / console-phone.png).

Steps: a wrong token is refused; the operator signs in; a message sent with `darkspere sms`
appears without a reload; open it; take over; type a reply and see it reach the fake Twilio
REST API; a message from the user while held; release; the next message is answered by the
agent in the transcript; bad input shows the API's error; opt-outs and usage panels;
keyboard reach; layout shift while messages stream; screenshots at laptop and phone sizes;
a viewer sees no take-over button; a stored token that stops working goes back to sign-in.
"""
import json, subprocess, sys, time, urllib.request
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException

args = json.loads(sys.argv[1])
ADMIN, TWILIO, SHOTS = args["admin"], args["twilio"], args["shots"]
out = {"steps": []}


def click(d, by, selector, match=None, timeout=10):
    """Finds and clicks an element, again if the live page re-rendered it in between
    (the session list redraws as events arrive: a found element can go stale)."""
    end = time.time() + timeout
    while True:
        try:
            els = d.find_elements(by, selector)
            el = next(e for e in els if match is None or match in e.text)
            data_id = el.get_attribute("data-id")
            el.click()
            return data_id
        except (StaleElementReferenceException, StopIteration):
            if time.time() > end:
                raise
            time.sleep(0.1)


def step(name):
    out["steps"].append(name)


def sms(number, text):
    r = subprocess.run(args["sms"] + ["--from", number, text], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("darkspere sms failed: " + r.stderr)
    return r.stdout.strip()


def twilio_bodies(to):
    with urllib.request.urlopen(TWILIO + "/requests", timeout=5) as f:
        reqs = json.load(f)
    return [r["form"].get("Body") for r in reqs if r.get("form", {}).get("To") == to]


def browser(width, height):
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={width},{height}"]:
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return d


def visible(d, css):
    els = d.find_elements(By.CSS_SELECTOR, css)
    return len(els) > 0 and els[0].is_displayed()


def sign_in(d, wait, token):
    field = wait.until(lambda d: d.find_element(By.ID, "token") if visible(d, "#token") else None)
    field.clear()
    field.send_keys(token)
    field.send_keys(Keys.ENTER)


def messages(d):
    return d.execute_script("""return Array.from(document.querySelectorAll('#messages li.msg')).map(li => ({
        role: li.classList[1], text: li.querySelector('.bubble').textContent,
        name: li.querySelector('.name') ? li.querySelector('.name').textContent : '',
        info: li.querySelector('.info').textContent}))""")


def rows(d):
    return d.execute_script("""return Array.from(document.querySelectorAll('#sessions a.session')).map(a => ({
        id: a.dataset.id, text: a.innerText}))""")


d = browser(1280, 800)
try:
    # A condition that meets an element the live page redrew meanwhile is asked again.
    wait = WebDriverWait(d, 25, ignored_exceptions=(StaleElementReferenceException,))
    d.get(ADMIN + "/")
    # Layout shifts from now on (not caused by input), as Chromium measures them.
    d.execute_script("""window.__shift = 0; new PerformanceObserver(l => { for (const e of l.getEntries())
        if (!e.hadRecentInput) window.__shift += e.value; }).observe({type: 'layout-shift', buffered: false});""")

    # A wrong token is refused, with a clear note, and nothing is stored.
    sign_in(d, wait, "wrong-token-0123456789abcdef")
    wait.until(lambda d: visible(d, "#signin-note"))
    out["wrong_note"] = d.find_element(By.ID, "signin-note").text
    out["wrong_stored"] = d.execute_script("return sessionStorage.length")
    step("wrong token refused")

    sign_in(d, wait, args["operator"])
    wait.until(lambda d: visible(d, "#app"))
    out["whoami"] = d.find_element(By.ID, "whoami").text
    out["cookies"] = d.get_cookies()
    wait.until(lambda d: "live" in d.find_element(By.ID, "live").get_attribute("class").split())
    step("signed in, stream live")

    # Other conversations first, so the list has some life in the screenshot.
    sms("+15552010001", "What time do you open on Sunday?")
    sms("+15552010002", "Can I change my delivery address?")
    d.execute_script("window.__noReload = 'still here'")
    number = "+15551230001"
    sms(number, "Hi, my order #1042 arrived damaged")
    wait.until(lambda d: any(number in r["text"] for r in rows(d)))
    out["rows_after_sms"] = rows(d)
    out["no_reload"] = d.execute_script("return window.__noReload")
    step("message appeared without reload")

    sid = click(d, By.CSS_SELECTOR, "#sessions a.session", match=number)
    wait.until(lambda d: len(messages(d)) >= 2)
    out["transcript_first"] = messages(d)
    step("opened")

    click(d, By.ID, "t-takeover")
    wait.until(lambda d: visible(d, "#t-release"))
    wait.until(lambda d: "taken over by olivia" in d.find_element(By.ID, "t-badges").text)
    wait.until(lambda d: "taken over by olivia" in next((r["text"] for r in rows(d) if r["id"] == sid), ""))
    out["takeover_visible_after"] = visible(d, "#t-takeover")
    step("taken over")

    reply = "Hi, this is Olivia from support. I'm sorry about that, a replacement is on its way."
    box = d.find_element(By.ID, "reply-text")
    box.send_keys(reply)
    click(d, By.ID, "reply-send")
    wait.until(lambda d: any(m["role"] == "operator" and m["text"] == reply for m in messages(d)))
    deadline = time.time() + 20
    while time.time() < deadline and reply not in twilio_bodies(number):
        time.sleep(0.2)
    out["twilio_bodies"] = twilio_bodies(number)
    out["reply_box_after"] = box.get_attribute("value")
    step("reply reached twilio")

    # The user answers while the operator holds the session: shown, no agent call.
    sms(number, "Thank you!")
    wait.until(lambda d: any(m["text"] == "Thank you!" for m in messages(d)))
    # Delivery status of the operator's message as the page shows it.
    wait.until(lambda d: any(m["role"] == "operator" and ("sent" in m["info"] or "delivered" in m["info"] or "queued" in m["info"]) for m in messages(d)))
    out["transcript_held"] = messages(d)
    # The laptop screenshot: a conversation in the operator's hands.
    d.execute_script("document.activeElement.blur()")
    time.sleep(1)
    d.save_screenshot(SHOTS + "/console-laptop.png")

    click(d, By.ID, "t-release")
    wait.until(lambda d: visible(d, "#t-takeover"))
    step("released")

    sms(number, "One more question: can I keep the damaged one?")
    wait.until(lambda d: any(m["role"] == "agent" and "can I keep the damaged one" in m["text"] for m in messages(d)))
    out["transcript_final"] = messages(d)
    out["no_reload_end"] = d.execute_script("return window.__noReload")
    out["layout_shift"] = d.execute_script("return window.__shift")
    step("agent answered after release")

    # Keyboard: from the number filter, Tab reaches the conversation rows.
    click(d, By.ID, "filter-number")
    reached = None
    for i in range(6):
        # Keys go to whatever has focus and its class is read by script: the live list may
        # redraw the focused row between two WebDriver calls, and a held element reference
        # then goes stale (StaleElementReferenceException in a fresh-clone CI run).
        webdriver.ActionChains(d).send_keys(Keys.TAB).perform()
        if d.execute_script("return document.activeElement && document.activeElement.className") == "session":
            reached = i + 1
            break
    out["tabs_to_row"] = reached
    if reached:
        webdriver.ActionChains(d).send_keys(Keys.ENTER).perform()
        wait.until(lambda d: d.execute_script("return location.hash").startswith("#/conversations/"))

    # Filter by number.
    f = d.find_element(By.ID, "filter-number")
    f.clear()
    f.send_keys("+15552010002")
    wait.until(lambda d: [r["text"].split("\n")[0] for r in rows(d)] == ["+15552010002"])
    out["filtered"] = [r["text"].split("\n")[0] for r in rows(d)]
    f.send_keys(Keys.CONTROL, "a")
    f.send_keys(Keys.DELETE)
    wait.until(lambda d: len(rows(d)) >= 3)


    # Bad input: the API's own message is shown.
    d.get(ADMIN + "/#/optouts")
    wait.until(lambda d: visible(d, "#optout-number"))
    d.find_element(By.ID, "optout-number").send_keys("not a number")
    click(d, By.CSS_SELECTOR, "#optout-add button")
    wait.until(lambda d: visible(d, "#toast"))
    out["bad_input_toast"] = d.find_element(By.ID, "toast-text").text
    click(d, By.ID, "toast-close")
    field = d.find_element(By.ID, "optout-number")
    field.clear()
    field.send_keys("+15550009999")
    click(d, By.CSS_SELECTOR, "#optout-add button")
    wait.until(lambda d: "+15550009999" in d.find_element(By.ID, "optouts").text)
    out["optouts"] = d.find_element(By.CSS_SELECTOR, "#optouts tbody").text
    d.save_screenshot(SHOTS + "/console-optouts.png")
    step("opt-outs")

    d.get(ADMIN + "/#/agents")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#agents tbody tr")) > 0)
    out["agents"] = d.execute_script("return document.querySelector('#agents tbody').innerText")   # redrawn every few seconds
    out["agent_buttons"] = d.execute_script("""return Array.from(document.querySelectorAll('#agents tbody tr:first-child button'))
        .filter(b => b.offsetParent !== null).map(b => b.textContent)""")
    # Drain: PATCH /api/v1/agents/{name}. Either the agent drains or the API's error shows.
    # (by script: the table is redrawn every few seconds, an element found earlier may be gone)
    d.execute_script("document.querySelector('#agents tbody tr:first-child button').click()")
    wait.until(lambda d: visible(d, "#toast") or "draining" in d.execute_script("return document.querySelector('#agents tbody tr:first-child').textContent"))
    out["drain_result"] = d.find_element(By.ID, "toast-text").text if visible(d, "#toast") else "draining"
    d.save_screenshot(SHOTS + "/console-agents.png")
    if out["drain_result"] == "draining":
        d.execute_script("document.querySelectorAll('#agents tbody tr:first-child button')[2].click()")   # Enable again
        wait.until(lambda d: "draining" not in d.execute_script("return document.querySelector('#agents tbody tr:first-child').textContent"))
    step("agents")

    d.get(ADMIN + "/#/usage")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#usage .card")) > 0)
    out["usage"] = d.find_element(By.ID, "usage").text
    d.save_screenshot(SHOTS + "/console-usage.png")
    step("usage")

    # Phone size: the same conversation.
    d.set_window_size(390, 844)
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    d.get(ADMIN + "/#/conversations/" + sid)
    wait.until(lambda d: len(messages(d)) >= 6)
    d.execute_script("document.activeElement.blur()")
    time.sleep(1.5)
    out["phone_overflow"] = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    d.save_screenshot(SHOTS + "/console-phone.png")
    d.get(ADMIN + "/#/conversations")
    wait.until(lambda d: len(rows(d)) >= 3 and visible(d, "#sessions"))
    out["phone_list_visible"] = visible(d, "#sessions") and not visible(d, "#transcript")
    d.save_screenshot(SHOTS + "/console-phone-list.png")
    step("phone screenshot")

    # A stored token that stops working (revoked): back to sign-in with a note.
    d.execute_script("sessionStorage.setItem('darkspere.console.token', 'revoked-token-0123456789abcdef')")
    d.refresh()
    wait.until(lambda d: visible(d, "#signin-note"))
    out["revoked_note"] = d.find_element(By.ID, "signin-note").text
    out["revoked_app_hidden"] = not visible(d, "#app")
    step("revoked token back to sign-in")
finally:
    d.quit()

# A viewer: read-only page.
v = browser(1280, 800)
try:
    wait = WebDriverWait(v, 25, ignored_exceptions=(StaleElementReferenceException,))
    v.get(ADMIN + "/")
    sign_in(v, wait, args["viewer"])
    wait.until(lambda d: visible(d, "#app"))
    out["viewer_whoami"] = v.find_element(By.ID, "whoami").text
    wait.until(lambda d: len(rows(d)) >= 3)
    click(v, By.CSS_SELECTOR, "#sessions a.session")
    wait.until(lambda d: len(messages(d)) >= 2)
    out["viewer_takeover_visible"] = visible(v, "#t-takeover")
    out["viewer_reply_visible"] = visible(v, "#reply")
    out["viewer_readonly_note"] = v.find_element(By.CSS_SELECTOR, ".readonly-note").text if visible(v, ".readonly-note") else ""
    v.get(ADMIN + "/#/agents")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#agents tbody tr")) > 0)
    out["viewer_agent_buttons"] = v.execute_script("""return Array.from(document.querySelectorAll('#agents button'))
        .filter(b => b.offsetParent !== null).map(b => b.textContent)""")
    v.get(ADMIN + "/#/optouts")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#optouts tbody tr")) > 0)
    out["viewer_optout_form_visible"] = visible(v, "#optout-add")
    step("viewer read-only")
finally:
    v.quit()
print(json.dumps(out))
