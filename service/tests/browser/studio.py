"""Drives the vrender Studio page in headless Chromium (selenium + Debian's chromium-driver).

Run by service/tests/studio_browser.rs against a real `vrender serve`:
    python studio.py main BASE_URL SCREENSHOT_DIR
    python studio.py auth BASE_URL SCREENSHOT_DIR OWN_KEY OWN_JOB_ID OTHER_USERS_JOB_ID
Each step saves a screenshot; any failed check raises (non-zero exit with the reason on stderr).
"""

import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1100", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


class Steps:
    def __init__(self, driver, out):
        self.driver = driver
        self.out = out
        self.n = 0

    def shot(self, name):
        self.n += 1
        self.driver.save_screenshot(f"{self.out}/{self.n:02d}-{name}.png")

    def wait(self, what, cond, timeout=60):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda d: cond(d))
        except Exception:
            self.shot("FAILED-" + what.replace(" ", "-"))
            log = self.driver.get_log("browser") if hasattr(self.driver, "get_log") else []
            raise AssertionError(f"timed out waiting for {what}; browser log: {log}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)


# The preview image's size and a summary of its pixels (distinct colours, a hash), read via a canvas.
PIXELS = """
const img = document.getElementById('preview');
if (!img.complete || !img.naturalWidth || img.dataset.frame === undefined) return null;
const c = document.createElement('canvas');
c.width = img.naturalWidth; c.height = img.naturalHeight;
const g = c.getContext('2d');
g.drawImage(img, 0, 0);
const d = g.getImageData(0, 0, c.width, c.height).data;
const colours = new Set();
let hash = 0;
for (let i = 0; i < d.length; i += 4) {
  const v = (d[i] << 16) | (d[i + 1] << 8) | d[i + 2];
  if (colours.size < 5000) colours.add(v);
  hash = (hash * 31 + v) >>> 0;
}
return {w: c.width, h: c.height, colours: colours.size, hash, frame: img.dataset.frame};
"""


def set_editor(s, text):
    s.js("const e = document.getElementById('editor'); e.value = arguments[0];"
         "e.dispatchEvent(new Event('input'));", text)


def main(base, out):
    driver = browser()
    s = Steps(driver, out)
    try:
        driver.get(base + "/")
        s.wait("the page", lambda d: d.find_element(By.ID, "example-select").is_displayed())
        s.wait("the examples", lambda d: len(Select(d.find_element(By.ID, "example-select")).options) > 1)
        s.shot("opened")

        Select(driver.find_element(By.ID, "example-select")).select_by_value("hello")
        first = s.wait("the first preview", lambda d: s.js(PIXELS))
        # hello is 1280x720; the Studio asks for previews 960 wide.
        assert (first["w"], first["h"]) == (960, 540), first
        assert first["colours"] > 500, f"a flat preview: {first}"
        assert first["frame"] == "0", first
        s.shot("preview")

        # The filmstrip: 8 frames spread over the 120 of hello, 160 px wide; a click shows its frame.
        strip = s.wait("the filmstrip", lambda d: (f := s.js(
            "const imgs = [...document.querySelectorAll('#filmstrip img')];"
            "return imgs.length === 8 && imgs.every(i => i.complete && i.naturalWidth > 0)"
            "  ? imgs.map(i => [i.dataset.frame, i.naturalWidth]) : null;")) and f)
        assert [f for f, _ in strip] == ["0", "17", "34", "51", "68", "85", "102", "119"], strip
        assert all(w == 160 for _, w in strip), strip
        s.shot("filmstrip")
        driver.find_elements(By.CSS_SELECTOR, "#filmstrip img")[3].click()
        s.wait("frame 51 from the filmstrip", lambda d: (p := s.js(PIXELS)) and p["frame"] == "51")
        assert s.js("return document.querySelector('#filmstrip img.current').dataset.frame") == "51"

        s.js("const r = document.getElementById('scrubber'); r.value = 90;"
             "r.dispatchEvent(new Event('input'));")
        moved = s.wait("frame 90", lambda d: (p := s.js(PIXELS)) and p["frame"] == "90" and p)
        assert moved["hash"] != first["hash"], "frame 90 looks like frame 0"
        assert (moved["w"], moved["h"]) == (960, 540), moved
        s.shot("scrubbed")

        s.js("const r = document.getElementById('scrubber'); r.value = 0;"
             "r.dispatchEvent(new Event('input'));")
        s.wait("frame 0 again", lambda d: (p := s.js(PIXELS)) and p["frame"] == "0")
        driver.find_element(By.ID, "play-button").click()
        seen = set()
        deadline = time.time() + 30
        while len(seen) < 3 and time.time() < deadline:
            p = s.js(PIXELS)
            if p and p["frame"] != "0":
                seen.add(p["frame"])
            time.sleep(0.05)
        assert len(seen) >= 3, f"play showed only frames {seen}"
        s.shot("playing")
        driver.find_element(By.ID, "play-button").click()
        s.wait("pause", lambda d: "Play" in d.find_element(By.ID, "play-button").text)

        good = s.js("return document.getElementById('editor').value")
        project = json.loads(good)
        project["frames"][0]["layers"][1]["opacity"] = 5
        set_editor(s, json.dumps(project, indent=2))
        path = "frames[0].layers[1].opacity"
        s.wait("the error's JSON path",
               lambda d: path in d.find_element(By.ID, "errors").text)
        assert "between 0 and 1" in driver.find_element(By.ID, "errors").text
        s.shot("error-shown")
        set_editor(s, good)
        s.wait("the error to clear", lambda d: d.find_element(By.ID, "errors").text == "")

        Select(driver.find_element(By.ID, "quality-select")).select_by_value("low")
        driver.find_element(By.ID, "render-button").click()
        job = s.wait("a job in the list", lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs li"))[0]
        percents = set()
        deadline = time.time() + 240
        while time.time() < deadline:
            percents.add(job.find_element(By.CLASS_NAME, "percent").text)
            if job.get_attribute("data-status") in ("completed", "failed", "cancelled"):
                break
            if len(percents) == 3:
                s.shot("rendering")
            time.sleep(0.1)
        status = job.get_attribute("data-status")
        assert status == "completed", f"job ended {status}: {job.text}"
        assert job.find_element(By.CLASS_NAME, "percent").text == "100 %", job.text
        assert len(percents) >= 2, f"progress never moved: {percents}"
        duration = s.wait("the video's duration", lambda d: s.js(
            "const v = document.querySelector('#jobs li video');"
            "return v && isFinite(v.duration) && v.duration > 0 ? v.duration : null;"), timeout=60)
        assert abs(duration - 4.0) < 0.2, f"video lasts {duration} s, expected 4"
        s.js("document.querySelector('#jobs li video').scrollIntoView()")
        s.shot("rendered")
        print(json.dumps({"preview": first, "filmstrip": strip, "scrubbed": moved, "played": sorted(seen),
                          "progress": sorted(percents), "duration": duration}))
    finally:
        driver.quit()


def auth(base, out, key, own_job, other_job):
    driver = browser()
    s = Steps(driver, out)
    try:
        driver.get(base + "/")
        dialog = s.wait("the API key prompt", lambda d: (e := d.find_element(By.ID, "key-dialog")).is_displayed() and e)
        s.shot("key-prompt")
        driver.find_element(By.ID, "key-input").send_keys("wrong-key")
        driver.find_element(By.ID, "key-save").click()
        s.wait("the refusal", lambda d: "refused" in d.find_element(By.ID, "key-error").text)
        s.shot("key-refused")
        driver.find_element(By.ID, "key-input").send_keys(key)
        driver.find_element(By.ID, "key-save").click()
        s.wait("the prompt to close", lambda d: not dialog.is_displayed())
        Select(driver.find_element(By.ID, "example-select")).select_by_value("hello")
        p = s.wait("a preview with the key", lambda d: s.js(PIXELS))
        assert (p["w"], p["h"]) == (960, 540), p
        jobs = "return [...document.querySelectorAll('#jobs li')].map(li => li.dataset.job)"
        s.wait("the user's own job", lambda d: own_job in s.js(jobs))
        ids = s.js(jobs)
        assert other_job not in ids, f"another user's job shows: {ids}"
        s.shot("signed-in")
        print(json.dumps({"jobs_shown": ids}))
    finally:
        driver.quit()


if __name__ == "__main__":
    if sys.argv[1] == "main":
        main(sys.argv[2], sys.argv[3])
    else:
        auth(*sys.argv[2:7])
