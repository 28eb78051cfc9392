"""The timeline as a track in a real browser (Debian's chromium through Playwright): clips as thumbnails in
timecode, dragged with the mouse to reorder, trimmed by their edges, crossfaded by the dot at their top left;
the total follows each edit and is the exported cut's length to the frame."""
import pytest
from test_browser_studio import CHROMIUM, SHOTS, Studio, browser_page, says, tab

from engine.defaults import BUNDLED_MODEL
from studio import export
from studio.panels.common import use_on_timeline

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")
PROMPTS = ["a red ball rolls to the right", "a blue box falls down", "a green triangle spins"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    s = Studio(BUNDLED_MODEL, tmp_path_factory.mktemp("track"))  # the guide's picture shows real takes
    s.url = s.start()
    store, queue = s.store, s.demo.studio.queue
    s.pid = store.create_project("Cut")
    for prompt in PROMPTS:  # three one-second takes on the timeline, made before the page opens
        sid = store.add_shot(s.pid, prompt=prompt, seconds=1.0, aspect="1:1", steps=8)
        queue.submit(s.pid, "shot", {"shot_id": sid})
    queue.wait(300)
    for shot in store.shots(s.pid):
        use_on_timeline(store, store.takes(s.pid, shot["id"])[0])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def page(studio):
    yield from browser_page(studio)


def clip(page, i):
    return page.locator(f"#timeline-track .tl-clip[data-i='{i}']")


def drag_by(page, locator, dx):
    """Press on `locator`'s middle and move it `dx` pixels sideways in small steps, as a hand does."""
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=10)
    page.mouse.up()


def total_frames(studio):
    return sum(added for _, added, _ in export.cut_length(studio.store, studio.pid, 24.0))


def test_drag_to_reorder_trim_and_crossfade(studio, page):
    store, pid = studio.store, studio.pid
    tab(page, "Timeline")
    says(page, "timeline-total", "3 clip(s)")
    clip(page, 2).wait_for()
    assert page.locator("#timeline-track .tl-clip").count() == 3
    takes = [e["take_id"] for e in store.timeline(pid)]
    says(page, "timeline-track", "3. Shot 3 · take 1")
    # the last clip dragged to the front
    first = clip(page, 0).bounding_box()
    drag_by(page, clip(page, 2), first["x"] - clip(page, 2).bounding_box()["x"] - 10)
    says(page, "timeline-msg", "moved to place 1")
    assert [e["take_id"] for e in store.timeline(pid)] == [takes[2], takes[0], takes[1]]
    # the right edge of the second clip dragged left by 6 frames at 24 fps: 2 of its own 8 fps frames
    clip(page, 1).wait_for()
    px = float(page.evaluate("() => document.querySelector('#timeline-track .tl-clip[data-i=\"1\"]').offsetWidth"))
    per = px / (7 * 3 + 1)  # its 8 frames at 8 fps play as 22 at 24 fps
    drag_by(page, clip(page, 1).locator(".tl-out"), -6 * per)
    says(page, "timeline-msg", "trimmed")
    second = store.timeline(pid)[1]
    assert (second["trim_in"], second["trim_out"]) == (0, 2), second
    # the dot of the third clip dragged right by 6 frames: a crossfade of a quarter second
    drag_by(page, clip(page, 2).locator(".tl-fade-dot"), 6 * per)
    says(page, "timeline-msg", "crossfade of")
    third = store.timeline(pid)[2]
    assert third["transition"] == "crossfade" and abs(third["transition_seconds"] - 0.25) < 0.05, third
    # the total is the cut's, in timecode and frames, and the export holds exactly that many
    n = total_frames(studio)
    says(page, "timeline-total", f"{export.timecode(n, 24)} · {n} frames at 24 fps")
    # a click on the ruler puts the playhead there and says where
    ruler = page.locator("#timeline-track .tl-ruler").bounding_box()
    page.mouse.click(ruler["x"] + 12 * per, ruler["y"] + 5)
    says(page, "timeline-track", "playhead 00:00:00:12")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#timeline-track").screenshot(path=str(SHOTS / "timeline-track.png"))
    page.click("#export")
    says(page, "export-msg", "exported")
    from engine.video import media

    mp4 = next((store.root / "media" / pid / "exports").rglob("*.mp4"))
    assert len(media.read_video(mp4)) == n
