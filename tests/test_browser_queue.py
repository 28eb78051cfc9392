"""Feeding the render queue in a real browser (Debian's chromium through Playwright), as a person does it
(issue 31): while a long shot renders, Render shot is clicked three times; the queue lists the three takes in
order with the time each should take and when it starts, a waiting take is moved up by clicking its row and
another cancelled; they run in the order left, and the cancelled one never runs."""
import pytest
from test_browser_studio import (
    CHROMIUM,
    LONG,
    Studio,
    add_shot,
    browser_page,
    new_project,
    pick,
    says,
    shot_png,
    type_into,
)

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def studio(tiny_model, tmp_path_factory):
    s = Studio(tiny_model, tmp_path_factory.mktemp("queue"))
    s.url = s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def page(studio):
    yield from browser_page(studio)


def waiting_rows(page, n, has=""):
    """Wait until the queue's table lists n waiting jobs (each row holding `has`)."""
    page.wait_for_function(
        "([n, has]) => [...document.querySelectorAll('#queue-table [role=row]')]"
        ".filter(r => r.innerText.includes('waiting') && r.innerText.includes(has)).length === n", arg=[n, has])


def test_render_three_times_while_one_renders(studio, page):
    pid = new_project(page, studio, "Queue")
    # a long shot, slow by its length and steps (12 s, 40 steps), not by any sleep
    add_shot(page, 1)
    type_into(page, "shot-prompt", "a blue box falls down")
    type_into(page, "shot-seconds", 12)
    type_into(page, "shot-steps", 40)
    page.click("#render-shot")
    page.locator("#running-job").filter(has_text="window").wait_for(timeout=LONG)
    add_shot(page, 2)
    type_into(page, "shot-prompt", "a red ball rolls to the right")
    type_into(page, "shot-seconds", 1)
    type_into(page, "shot-steps", 4)
    for n in (1, 2, 3):  # Render shot stays active while the long shot renders: each click queues a take
        assert page.locator("#render-shot").is_enabled()
        page.click("#render-shot")
        waiting_rows(page, n)
    says(page, "shot-msg", "queued 1 take(s) of shot 2")
    # the line with its times: the running take's elapsed and left, each waiting take's length and start
    waiting_rows(page, 3, "starts in ~")
    says(page, "queue-progress", "3 waiting · all done in about")
    says(page, "running-job", "elapsed · about")
    shot_png(page, "queue-line")
    jobs = [j["id"] for j in studio.store.jobs(pid, status="waiting")]
    assert len(jobs) == 3
    # the third take moves up: its row is clicked, then Move up; the first is cancelled from the picker
    page.locator("#queue-table [role=row]").filter(has_text=jobs[2]).get_by_text(jobs[2]).click()
    page.wait_for_function(f"() => document.querySelector('#queue-job input').value.includes('{jobs[2]}')")
    page.click("#job-up")
    says(page, "queue-msg", "moved up the line")
    pick(page, "queue-job", jobs[0])
    assert page.locator("#queue-job input").input_value().startswith("1. shot 2/2 take 1")  # first in line
    page.click("#job-cancel")
    says(page, "queue-msg", "cancelled: it will not run")
    waiting_rows(page, 2)
    assert [j["id"] for j in studio.store.jobs(pid, status="waiting")] == [jobs[2], jobs[1]]
    assert studio.store.jobs(pid)[0]["status"] == "running", "the long shot ended before the line was edited"
    says(page, "queue-progress", "idle", timeout=LONG)
    done = {j["id"]: j for j in studio.store.jobs(pid)}
    assert all(done[j]["status"] == "done" for j in (jobs[2], jobs[1])), [j["error"] for j in done.values()]
    assert done[jobs[2]]["started"] < done[jobs[1]]["started"]
    assert done[jobs[0]]["status"] == "cancelled" and done[jobs[0]]["started"] is None
    assert len(studio.store.takes(pid, studio.store.shots(pid)[1]["id"])) == 2
