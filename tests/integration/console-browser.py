#!/usr/bin/python3
# Drives the lvss Cockpit page in headless Chromium (Selenium) against the
# real daemons started by tests/integration/console-*.sh.  Every wait is on a
# DOM condition with a generous timeout; nothing sleeps and hopes.
#
#   console-browser.py main        URL ARTIFACTS   (local session, root)
#   console-browser.py pam-allowed URL ARTIFACTS USER PASSWORD
#   console-browser.py pam-refused URL ARTIFACTS USER PASSWORD
#
# Environment for "main": JOBS REPO SG LB MSTORE MAILDIR (see console.sh).
import json
import os
import subprocess
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 90  # seconds: the CI machine is slow and shared
PAGE = "/cockpit/@localhost/lvss/index.html"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Console:
    def __init__(self, base, artifacts):
        self.base = base.rstrip("/")
        self.artifacts = artifacts
        os.makedirs(artifacts, exist_ok=True)
        o = webdriver.ChromeOptions()
        o.binary_location = "/usr/bin/chromium"
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1280,800", "--user-data-dir=" + os.path.join(artifacts, ".chromium"),
                  "--no-first-run", "--disable-extensions"):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
        # The window's own decorations: sizes below are of the viewport.
        self.chrome_h = self.d.execute_script("return window.outerHeight - window.innerHeight")
        self.d.set_window_size(1280, 800 + self.chrome_h)
        self.d.set_page_load_timeout(WAIT)
        self.console_errors = []

    def quit(self):
        try:
            self.d.quit()
        except Exception:
            pass

    # --- waiting -------------------------------------------------------
    def wait(self, cond, what, timeout=WAIT):
        def safe(d):
            try:
                return cond(d)
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.2).until(safe)
        except TimeoutException:
            self.shot("timeout")
            body = self.d.find_element(By.TAG_NAME, "body").text[-3000:]
            fail(f"timed out after {timeout} s waiting for {what}; page text:\n{body}")

    def el(self, css, timeout=WAIT):
        return self.wait(lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, css)), None), css, timeout)

    def text_in(self, css, text, timeout=WAIT):
        return self.wait(lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css)),
                         f"'{text}' in {css}", timeout)

    def click(self, css):
        e = self.wait(lambda d: next((x for x in d.find_elements(By.CSS_SELECTOR, css)
                                      if x.is_displayed() and x.is_enabled()), None), f"{css} clickable")
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", e)
        e.click()
        return e

    def type(self, css, value):
        e = self.wait(lambda d: next((x for x in d.find_elements(By.CSS_SELECTOR, css) if x.is_displayed()), None),
                      css + " displayed")
        e.clear()
        e.send_keys(value)
        return e

    def go(self, page):
        self.d.execute_script("cockpit.location.go(arguments[0])", page)
        self.wait(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == page.strip("/").split("/")[0],
                  "page " + page)

    def open(self):
        self.d.get(self.base + PAGE + "#/overview")
        self.wait(lambda d: d.execute_script("return !!(window.cockpit && document.getElementById('main').dataset.page)"),
                  "the lvss page to start")

    def size(self, width, height):
        self.d.set_window_size(width, height + self.chrome_h)

    def shot(self, name, width=1280, height=800):
        self.size(width, height)
        path = os.path.join(self.artifacts, name + ".png")
        self.d.save_screenshot(path)
        if (width, height) != (1280, 800):
            self.size(1280, 800)
        return path

    def check_console(self, where):
        """No errors in the browser console (cockpit's own debug lines are info)."""
        for entry in self.d.get_log("browser"):
            if entry.get("level") == "SEVERE":
                self.console_errors.append(f"{where}: {entry['message']}")
        if self.console_errors:
            fail("browser console errors:\n" + "\n".join(self.console_errors))

    def no_horizontal_scroll(self, where):
        w = self.d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        if w[0] > w[1] + 1:
            fail(f"{where}: the page is {w[0]} px wide in a {w[1]} px window (not readable at this width)")


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def wait_task(c, state_css="#task-progress"):
    c.wait(lambda d: d.find_element(By.CSS_SELECTOR, state_css).get_attribute("data-state")
           in ("succeeded", "failed", "cancelled", "interrupted"), "the task to end", timeout=180)
    st = c.d.find_element(By.CSS_SELECTOR, state_css).get_attribute("data-state")
    if st != "succeeded":
        fail(f"task ended {st}: {c.d.find_element(By.CSS_SELECTOR, '#main').text[-2000:]}")


def main_path(c):
    env = os.environ
    jobs, repo, sg, lb, mstore = env["JOBS"], env["REPO"], env["SG"], env["LB"], env["MSTORE"]
    c.open()

    # Keyboard: the navigation is reachable with Tab and follows Enter.
    body = c.d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(10):
        a = c.d.switch_to.active_element
        if a.get_attribute("data-page") == "jobs":
            break
        a.send_keys(Keys.TAB)
    else:
        fail("the Jobs link is not reachable with Tab")
    c.d.switch_to.active_element.send_keys(Keys.ENTER)
    c.wait(lambda d: d.find_element(By.ID, "main").get_attribute("data-page") == "jobs", "Jobs by keyboard")

    # Jobs: create one; the schedule field shows the next five runs as typed.
    c.click("#job-new")
    c.type("#job-name", "nightly")
    c.type("#job-repository", repo)
    c.type("#sched-full", "Sun 01:00")
    c.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#next-full li")) == 5, "five next runs of 'Sun 01:00'")
    runs = [e.text for e in c.d.find_elements(By.CSS_SELECTOR, "#next-full li")]
    if not all(r.startswith("Sun ") and r.endswith("01:00:00") for r in runs):
        fail(f"next runs of 'Sun 01:00' are {runs}")
    # A bad expression: the service's own words, as lvss-backupctl would print them.
    c.type("#sched-incremental", "Mon..Frob 25:00")
    c.text_in("#next-incremental .lv-error", "calendar expression 'Mon..Frob 25:00'")
    c.type("#sched-incremental", "Mon..Sat 01,13:00")
    c.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#next-incremental li")) == 5, "five incremental runs")
    c.type("#ret-keep_last", "1")
    c.shot("jobs-new")
    c.click("#job-save")
    c.text_in("#job-status", "Job nightly saved")
    path = os.path.join(jobs, "nightly.json")
    c.wait(lambda d: os.path.exists(path), "nightly.json in the jobs directory", timeout=30)
    doc = json.load(open(path))
    if doc.get("repository") != repo or doc.get("schedule") != {"full": "Sun 01:00", "incremental": "Mon..Sat 01,13:00"} \
            or doc.get("retention") != {"keep_last": 1}:
        fail(f"job file written from the browser: {doc}")
    # A save the service refuses shows its reason.
    c.type("#sched-full", "every other tuesday")
    c.click("#job-save")
    c.text_in("#job-status .lv-error", "every other tuesday")
    c.type("#sched-full", "Sun 01:00")
    c.click("#job-save")
    c.text_in("#job-status", "Job nightly saved")

    # Run now: a full, then an incremental, each with live progress.
    backups = []
    for typ in ("full", "incremental"):
        c.go("/jobs")
        row = c.el("tr[data-job='nightly']")
        Select(row.find_element(By.CSS_SELECTOR, "select.lv-run-type")).select_by_value(typ)
        row.find_element(By.XPATH, ".//button[text()='Run now']").click()
        c.el("#task-progress[data-state]")
        wait_task(c)
        bid = c.el("#task-progress .lv-backup-id").text
        c.text_in("#task-log", "lvss-backup create --type " + typ)
        backups.append(bid)
        if typ == "full":
            c.shot("jobs-run")
    listed = json.loads(sh(lb, "list", "--repo", repo, "--json"))["backups"]
    # keep_last 1 ran after the incremental: the incremental and its full (chain) are kept.
    ids = [b["id"] for b in listed]
    if sorted(ids) != sorted(backups):
        fail(f"the backups started from the browser are not in the repository: {ids} vs {backups}")

    # Cancel: a queued or running task is cancelled from the page.
    c.go("/jobs")
    row = c.el("tr[data-job='nightly']")
    Select(row.find_element(By.CSS_SELECTOR, "select.lv-run-type")).select_by_value("full")
    row.find_element(By.XPATH, ".//button[text()='Run now']").click()
    c.el("#task-progress[data-state]")
    c.click("#task-cancel")
    c.wait(lambda d: d.find_element(By.CSS_SELECTOR, "#task-progress").get_attribute("data-state")
           == "cancelled", "the task to end cancelled", timeout=120)

    # Retention editor: keep_last 1 keeps the incremental and, for its chain, the full.
    c.go("/jobs/nightly")
    c.el("#ret-keep_last")
    c.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#retention-preview tr[data-backup]")) >= 2, "retention preview")
    rows = {e.get_attribute("data-backup"): e for e in c.d.find_elements(By.CSS_SELECTOR, "#retention-preview tr[data-backup]")}
    full_id, inc_id = backups
    if rows[full_id].get_attribute("data-keep") != "keep" or "chain" not in rows[full_id].text:
        fail("retention preview: the full should be kept for its chain: " + rows[full_id].text)
    if rows[inc_id].get_attribute("data-keep") != "keep" or "last" not in rows[inc_id].text:
        fail("retention preview: the incremental should be kept as the last: " + rows[inc_id].text)
    c.shot("jobs-retention")
    c.check_console("jobs")

    # History: filters, the task log.
    c.go("/history")
    c.el("#history-list tr[data-task]")
    Select(c.el("#f-kind")).select_by_value("backup")
    Select(c.el("#f-state")).select_by_value("succeeded")
    c.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#history-list tr[data-task]")) == 2, "2 succeeded backups")
    first = c.d.find_elements(By.CSS_SELECTOR, "#history-list tr[data-task]")[-1]
    first.find_element(By.TAG_NAME, "a").click()
    c.text_in("#history-log", "lvss-backup create --type full")
    c.shot("history")

    # Backups: the chain drawn (the incremental under its full), components, check now.
    c.go("/backups")
    c.el(f"li.lv-type-full[data-backup='{full_id}'] > ul > li.lv-type-incremental[data-backup='{inc_id}']")
    c.click(f"li[data-backup='{inc_id}'] > button")
    c.text_in("#backup-id", inc_id)
    c.text_in("#backup-components", "Mail Store/h1/SG1")
    c.shot("backups")
    c.click("#backups-check")
    wait_task(c)
    c.text_in("#task-log", "lvss-backup check")
    c.check_console("backups")

    # Restore one database through the wizard, then read its mail back.
    c.go(f"/backups/nightly/{inc_id}")
    c.click("#backup-restore")
    c.el("#restore-components")
    comp = c.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "#restore-components input")
                                  if e.get_attribute("value") == "Mail Store/h1/SG1/DB1"), None), "component DB1")
    comp.click()
    c.shot("restore-component")
    c.click("#wizard-next")
    c.el("#prep-dismount")
    if not c.d.find_element(By.ID, "restore-start").get_property("disabled"):
        fail("the restore could start with the storage group mounted")
    c.shot("restore-steps")
    # The run cancelled above may still hold SG1 for a moment ("a backup is in
    # progress, try again later"): the step's button stays usable; retry until done.
    deadline = time.monotonic() + WAIT
    while True:
        c.click("#prep-dismount")
        c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#prep-dismount-step[data-done='yes'], #restore-prep .lv-error"),
               "the dismount's outcome")
        if c.d.find_elements(By.CSS_SELECTOR, "#prep-dismount-step[data-done='yes']"):
            break
        err = c.d.find_element(By.CSS_SELECTOR, "#restore-prep .lv-error").text
        if "a backup is in progress" not in err or time.monotonic() > deadline:
            fail("Dismount from the wizard: " + err)
        time.sleep(0.5)
    state = json.loads(sh(mstore, "db", "list", "--json"))["databases"]
    if any(d["state"] != "dismounted" for d in state if d["sg"] == "SG1"):
        fail(f"Dismount from the wizard: {state}")
    # The database is gone from disk: only the restore can bring its mail back.
    for f in ("DB1.edb", "DB1.stm"):
        os.unlink(os.path.join(sg, f))
    c.click("#prep-allow")
    c.el("#prep-allow-step[data-done='yes']")
    c.wait(lambda d: not d.find_element(By.ID, "restore-start").get_property("disabled"), "Start enabled")
    c.click("#restore-start")
    c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#restore-result[data-state]"), "the restore's result", timeout=180)
    if c.d.find_element(By.ID, "restore-result").get_attribute("data-state") != "succeeded":
        fail("restore: " + c.d.find_element(By.ID, "main").text[-2000:])
    c.click("#restore-mount")
    c.el("#restore-mounted")
    c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.lv-mail[data-mailbox='a@h1'] li"), "a@h1's mail in the page")
    shown = len(c.d.find_elements(By.CSS_SELECTOR, "ul.lv-mail[data-mailbox='a@h1'] li"))
    want = len(os.listdir(env["MAILDIR"]))
    if shown != want:
        fail(f"the wizard shows {shown} messages of a@h1, {want} were delivered")
    c.shot("restore-result")
    c.check_console("restore")

    # Restore one message into the live mailbox (nothing dismounted): a copy of
    # it as backed up appears in Recovered/<backup time>, shown by the wizard.
    before = json.loads(sh(mstore, "msg", "list", "a@h1", "--json"))["messages"]
    uid = sorted(m["uid"] for m in before)[1]
    c.go(f"/backups/nightly/{inc_id}")
    c.click("#backup-restore")
    comp = c.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "#restore-components input")
                                  if e.get_attribute("value") == "Mail Store/h1/SG1/DB1"), None), "component DB1")
    comp.click()
    c.click("#where-live")
    c.type("#restore-mailbox", "a h1")
    c.click("#wizard-next")
    c.text_in("#wizard-body .lv-error", "is not an e-mail address")
    c.type("#restore-mailbox", "a@h1")
    c.type("#restore-uids", str(uid))
    c.click("#wizard-next")
    c.text_in("#restore-prep", "into the live mailbox a@h1")
    c.click("#restore-start")
    c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#restore-result[data-state]"), "the into-live restore's result",
           timeout=180)
    if c.d.find_element(By.ID, "restore-result").get_attribute("data-state") != "succeeded":
        fail("into-live restore: " + c.d.find_element(By.ID, "main").text[-2000:])
    folder = c.el("#restore-recovered").get_attribute("data-folder")
    if not (folder.startswith("Recovered/20") and folder.endswith("Z")):
        fail(f"the wizard names the folder '{folder}'")
    items = c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, f"ul.lv-mail[data-folder='{folder}'] li"),
                   "the recovered message in the page")
    after = json.loads(sh(mstore, "msg", "list", "a@h1", "--json"))["messages"]
    new = [m for m in after if m["folder"] == folder]
    if len(items) != 1 or len(new) != 1 or len(after) != len(before) + 1:
        fail(f"into-live: page shows {len(items)}, {folder} holds {new}, a@h1 {len(before)} -> {len(after)}")
    if items[0].get_attribute("data-uid") != str(new[0]["uid"]):
        fail(f"the page shows UID {items[0].get_attribute('data-uid')}, the folder holds {new[0]['uid']}")
    got = subprocess.run([mstore, "msg", "get", "a@h1", str(new[0]["uid"])], check=True, capture_output=True).stdout
    with open(os.path.join(env["MAILDIR"], str(uid)), "rb") as f:
        if got != f.read():
            fail(f"the recovered copy {new[0]['uid']} of message {uid} differs from the one delivered")
    if any(d["state"] != "mounted" for d in json.loads(sh(mstore, "db", "list", "--json"))["databases"]):
        fail("the into-live restore dismounted a database")
    c.shot("restore-live")
    c.check_console("restore into live")
    sh(mstore, "msg", "delete", "a@h1", str(new[0]["uid"]))  # a@h1 as delivered again, for console.sh

    # Restore the storage group to another directory, then browse its mailboxes
    # and read a message there (ReadRestored), production untouched.
    alt = os.path.join(os.path.dirname(env["MAILDIR"].rstrip("/")), "alt-restore")
    c.go(f"/backups/nightly/{inc_id}")
    c.click("#backup-restore")
    comp = c.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "#restore-components input")
                                  if e.get_attribute("value") == "Mail Store/h1/SG1"), None), "component SG1")
    comp.click()
    c.click("#where-alt")
    c.type("#restore-to", alt)
    c.click("#wizard-next")
    c.text_in("#restore-prep", "Nothing to prepare")
    c.click("#restore-start")
    c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#restore-result[data-state]"), "the alternate restore's result",
           timeout=180)
    if c.d.find_element(By.ID, "restore-result").get_attribute("data-state") != "succeeded":
        fail("alternate restore: " + c.d.find_element(By.ID, "main").text[-2000:])
    rows = c.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.lv-restored[data-mailbox='a@h1'] li"),
                  "a@h1's mail in the alternate location")
    want = sorted(int(f) for f in os.listdir(env["MAILDIR"]))
    shown = sorted(int(r.get_attribute("data-uid")) for r in rows)
    if shown != want:
        fail(f"the alternate location's a@h1 shows {shown}, the backup holds {want}")
    pick = rows[len(rows) // 2]
    uid = pick.get_attribute("data-uid")
    pick.find_element(By.TAG_NAME, "button").click()
    pre = c.wait(lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, f"#restored-text[data-uid='{uid}']")
                                 if e.is_displayed()), None), "message text")
    with open(os.path.join(env["MAILDIR"], uid), "rb") as f:
        raw = f.read().decode()
    got = c.d.execute_script("return arguments[0].textContent", pre)
    if got != raw:
        fail(f"message {uid} read in the page differs from the one delivered ({len(got)} vs {len(raw)} chars)")
    c.shot("restore-alternate")
    c.check_console("alternate restore")

    # Audit: who did what.
    c.go("/audit")
    c.text_in("#audit-list", "create job")
    for action in ("run", "restore", "cancel"):
        c.text_in("#audit-list td", action)
    c.text_in("#audit-list", "uid 0")
    c.shot("audit")

    # Overview, at 1280x800 and at phone width.
    c.go("/overview")
    c.text_in("#ov-jobs", "nightly")
    c.text_in("#ov-writers", "Mail Store Writer")
    c.text_in("#ov-databases", "DB1")
    c.wait(lambda d: "Loading" not in d.find_element(By.ID, "main").text, "every overview part loaded")
    c.shot("overview")
    c.no_horizontal_scroll("overview at 1280x800")
    c.size(390, 844)
    for p in ("/overview", "/jobs/nightly", "/history", "/backups", "/audit"):
        c.go(p)
        c.wait(lambda d: "Loading" not in d.find_element(By.ID, "main").text, p + " loaded")
        c.no_horizontal_scroll(p + " at phone width")
    c.go("/overview")
    c.wait(lambda d: "Loading" not in d.find_element(By.ID, "main").text, "overview loaded")
    c.shot("overview-phone", 390, 844)
    c.size(1280, 800)
    c.check_console("overview")
    print("console main path: job created, 2 backups, cancel, retention preview, history, chain, check, "
          "one-database restore, a message restored into the live mailbox, an alternate-location restore browsed and a message read, audit, overview")


def login(c, user, password):
    c.d.get(c.base + "/")
    c.type("#login-user-input", user)
    c.type("#login-password-input", password)
    button = c.click("#login-button")
    # Logged in: the session cookie opens the page without the shell.
    # Before a login the cookie is "deleted"; a session's is its id.
    c.wait(lambda d: (d.get_cookie("cockpit") or {}).get("value", "deleted") != "deleted", "the login cookie")
    # The login page then moves on to the shell by itself: let it go first,
    # or its navigation would replace ours.
    c.wait(EC.staleness_of(button), "the login page to move on")
    # Cockpit's own login page logs its 401 probe and, with no cockpit-system
    # installed, the shell's 404: not this page's errors, dropped here.
    c.d.get_log("browser")
    c.open()


def pam(c, user, password, allowed):
    login(c, user, password)
    uid = sh("id", "-u", user).strip()
    c.go("/overview")
    if not allowed:
        c.text_in("#ov-jobs .lv-error", f"uid {uid} may not use the backup service")
        c.shot("refused")
        c.go("/jobs")
        c.text_in("#jobs-list .lv-error", "root or group 'backup' only")
        print(f"uid {uid} outside group backup sees the refusal")
        return
    c.text_in("#ov-jobs", "mail")
    c.go("/jobs")
    row = c.el("tr[data-job='mail']")
    row.find_element(By.XPATH, ".//button[text()='Run now']").click()
    c.el("#task-progress[data-state]")
    wait_task(c)
    c.go("/history")
    c.text_in("#history-list", "uid " + uid)
    c.go("/audit")
    c.text_in("#audit-list", "uid " + uid)
    c.shot("pam-audit")
    c.check_console("pam")
    print(f"uid {uid} in group backup ran a backup through a PAM login")


def run():
    mode, base, artifacts = sys.argv[1:4]
    c = Console(base, artifacts)
    try:
        if mode == "main":
            main_path(c)
        elif mode in ("pam-allowed", "pam-refused"):
            pam(c, sys.argv[4], sys.argv[5], mode == "pam-allowed")
        else:
            fail("unknown mode " + mode)
        c.check_console(mode)
    finally:
        c.quit()


if __name__ == "__main__":
    run()
