"""Directing motion in a real browser (Debian's chromium through Playwright), with the bundled model: a shot's
planned path dragged with the mouse, a waypoint added by double-click, a point nudged from the keyboard, the
edit saved with the shot, bad motion refused on the page with nothing saved, and the render following the
dragged path (the take's sidecar holds the edited layout and the object in its frames stays on it)."""
import json

import numpy as np
import pytest
from test_browser_studio import CHROMIUM, SHOTS, Studio, add_shot, browser_page, new_project, pick, says, type_into

from engine.defaults import BUNDLED_MODEL
from engine.layout.direct import to_layout
from engine.video import media
from engine.world import measure

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    s = Studio(BUNDLED_MODEL, tmp_path_factory.mktemp("motion"))
    s.url = s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def page(studio):
    yield from browser_page(studio, height=1100)


def handle(page, o, p):
    return page.locator(f"#motion-editor circle.motion-handle[data-o='{o}'][data-p='{p}']")


def drag(page, o, p, x, y):
    """Press on point p of object o and move it, in small steps as a hand does, to (x, y) of the canvas."""
    page.locator("#motion-editor svg.motion-canvas").scroll_into_view_if_needed()
    box = page.locator("#motion-editor svg.motion-canvas").bounding_box()
    h = handle(page, o, p).bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=12)
    page.mouse.up()


def saved_motion(studio, sid):
    shot = studio.store.shot(sid)
    return json.loads(shot["motion"]) if shot["motion"] else None


def test_drag_a_path_and_render_it(studio, page):
    pid = new_project(page, studio, "Directed")
    add_shot(page, 1)
    type_into(page, "shot-prompt", "a big red ball rolls to the right on the grass")
    type_into(page, "shot-seconds", 2)
    pick(page, "shot-aspect", "1:1")
    type_into(page, "shot-steps", 16)
    page.click("#save-shot")
    says(page, "shot-msg", "saved")
    sid = studio.store.shots(pid)[0]["id"]
    # The plan shows as a path with a start and an end, and nothing is directed yet
    says(page, "motion-editor", "The plan")
    handle(page, 0, 1).wait_for()
    assert saved_motion(studio, sid) is None
    # Drag the end point up and left: the path now climbs
    drag(page, 0, 1, 0.7, 0.2)
    says(page, "motion-msg", "saved")
    motion = saved_motion(studio, sid)
    end = motion["objects"][0]["points"][-1]
    assert abs(end[0] - 0.7) < 0.03 and abs(end[1] - 0.2) < 0.03, end
    says(page, "motion-editor", "Directed")
    # A waypoint by double-click on the canvas, then nudged up from the keyboard
    page.locator("#motion-editor svg.motion-canvas").scroll_into_view_if_needed()
    box = page.locator("#motion-editor svg.motion-canvas").bounding_box()
    page.mouse.dblclick(box["x"] + 0.3 * box["width"], box["y"] + 0.8 * box["height"])
    page.wait_for_function("() => document.querySelectorAll('#motion-editor circle.motion-handle').length === 3")
    page.wait_for_function("() => document.querySelector('#motion-msg').innerText.includes('saved')")
    studio.demo.studio.queue.wait(5)
    page.wait_for_timeout(300)
    pts = saved_motion(studio, sid)["objects"][0]["points"]
    assert len(pts) == 3 and abs(pts[1][0] - 0.3) < 0.03 and abs(pts[1][1] - 0.8) < 0.03, pts
    handle(page, 0, 1).focus()
    for _ in range(3):
        page.keyboard.press("Shift+ArrowUp")
    for _ in range(50):  # the nudge is saved on key up
        pts = saved_motion(studio, sid)["objects"][0]["points"]
        if abs(pts[1][1] - 0.65) < 0.01:
            break
        page.wait_for_timeout(100)
    assert abs(pts[1][1] - 0.65) < 0.01, pts
    # Easing and timing from the fields: it waits half a second, then eases in and out
    page.locator("#motion-editor .motion-start input").fill("0.5")
    page.locator("#motion-editor .motion-start input").press("Tab")
    page.locator("#motion-editor .motion-easing select").select_option("ease-in-out")
    for _ in range(50):
        o = saved_motion(studio, sid)["objects"][0]
        if o["start"] == 0.5 and o["easing"] == "ease-in-out":
            break
        page.wait_for_timeout(100)
    assert o["start"] == 0.5 and o["easing"] == "ease-in-out", o
    # The card's animatic now plays the directed paths
    says(page, "shot-cards", "Plan (animatic)")
    SHOTS.mkdir(parents=True, exist_ok=True)  # the user guide's picture: the panel alone
    page.locator("#motion-panel").screenshot(path=str(SHOTS / "motion.png"))
    # Render: the take follows the dragged path
    page.click("#render-shot")
    says(page, "shot-msg", "queued 1")
    studio.demo.studio.queue.wait(600)
    jobs = studio.store.jobs(pid)
    assert [j["status"] for j in jobs] == ["done"], [j["error"] for j in jobs]
    take = studio.store.takes(pid, sid)[0]
    motion = saved_motion(studio, sid)
    want = to_layout(motion, 2.0)
    assert take["settings"]["layout"] == want.to_dict()
    video = media.read_video(str(studio.store.path(take["path"])), fps=take["fps"])
    frames = video.frames
    times = np.arange(len(frames)) / take["fps"]
    track = measure.centroids(frames, "red")
    H, W = frames.shape[1:3]
    planned = want.objects[0].at(times)[:, :2] * [W, H]
    seen = ~np.isnan(track[:, 0])
    assert seen.mean() > 0.8, f"the red ball is seen in {seen.mean():.0%} of frames"
    off = np.hypot(*(track[seen] - planned[seen]).T) / max(W, H)
    assert np.median(off) < 0.06 and (off < 0.06).mean() > 0.8, off.round(3)


def test_bad_motion_is_refused_on_the_page(studio, page):
    pid = studio.store.projects()[0]["id"]
    sid = studio.store.shots(pid)[0]["id"]
    before = studio.store.shot(sid)["motion"]
    box = page.locator("#motion-json textarea")
    if not box.is_visible():  # open the accordion (once: a second click would close it)
        page.get_by_text("Edit as JSON", exact=True).click()
    box.wait_for(state="visible")
    bad = json.loads(before)
    bad["objects"][0]["points"] = bad["objects"][0]["points"][:1]
    for motion, said in ((bad, "at least two points"),
                         ({**bad, "objects": [{**bad["objects"][0], "points": [[0.1, 0.1], [1.4, 0.5]]}]},
                          "off the canvas"),
                         ({**bad, "objects": [{**bad["objects"][0], "points": [[0.1, 0.1], [0.5, 0.5]], "start": 1.5,
                                               "end": 1.0}]}, "must stop after it starts"),
                         ({**bad, "objects": [{**bad["objects"][0], "points": [[0.1, 0.1], [0.5, 0.5]]}] * 4},
                          "at most 3")):
        type_into(page, "motion-json", json.dumps(motion))
        page.click("#motion-apply")
        says(page, "motion-msg", said)
        assert studio.store.shot(sid)["motion"] == before
    # The editor still shows the saved paths; back to the plan drops them
    handle(page, 0, 2).wait_for()
    page.click("#motion-reset")
    says(page, "motion-msg", "back to the plan")
    assert studio.store.shot(sid)["motion"] is None
    says(page, "motion-editor", "The plan")
