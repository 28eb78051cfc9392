"""Every public event of the studio through gradio_client, on the tiny model (a real server on loopback)."""
import json
import re
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import REAL_DATA
from PIL import Image

CARPHONE = REAL_DATA / "clips" / "carphone_pristine.mp4"
CALLED: set[str] = set()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    from gradio_client import Client

    from studio.app import build_app

    root = tmp_path_factory.mktemp("studio-api")
    demo, kw = build_app(model=str(tiny_model), projects=str(root / "projects"), config_dir=str(root / "config"),
                         dtype="float32", max_upload_mb=1, model_dirs=[root / "models"])
    port = free_port()
    demo.queue(default_concurrency_limit=1).launch(server_port=port, prevent_thread_lock=True, quiet=True, **kw)
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    yield demo, client, root
    demo.studio.queue.wait(120)
    demo.close()


def unwrap(v):
    """gr.update(...) outputs arrive as {"__type__": "update", "value": ...}: keep the value."""
    if isinstance(v, dict) and v.get("__type__") == "update":
        return v.get("value")
    return v


def call(client, name, *args, raw=False):
    CALLED.add(name)
    out = client.predict(*args, api_name=f"/{name}")
    if raw:
        return out
    return tuple(unwrap(v) for v in out) if isinstance(out, tuple) else unwrap(out)


def msg(out):
    return out[-1] if isinstance(out, (list, tuple)) else out


def store_name(demo, pid):
    return demo.studio.store.project(pid)["name"]


def test_projects_and_bad_input(server, tmp_path):
    demo, c, root = server
    pid, name, m = call(c, "create_project", "First film")
    assert pid.startswith("p") and "created" in m
    assert "⚠️" in msg(call(c, "create_project", "   "))  # empty name: inline message
    # a second project of the same name would be an empty look-alike: refused, saying what to do instead
    assert "a project named “First film” already exists" in msg(call(c, "create_project", "first film"))
    assert [p["name"] for p in demo.studio.store.projects()] == ["First film"]
    assert "renamed" in msg(call(c, "rename_project", pid, "Opening"))
    dup, m = call(c, "duplicate_project", pid)
    assert dup != pid and "duplicated" in m
    call(c, "ask_delete", dup)
    call(c, "cancel_delete")
    assert "deleted" in msg(call(c, "delete_project", dup))
    assert call(c, "list_projects") == pid
    ex, m = call(c, "open_example")
    ex2, m2 = call(c, "open_example")  # a second copy of the example is numbered, and the message says so
    assert f"opened the example as “{store_name(demo, ex2)}”" in m2 and store_name(demo, ex2).endswith(" (2)")
    sb = call(c, "storyboard", ex)
    assert "Shot 3" in sb[0] and "animates a still" in sb[0]
    assert "⚠️" in msg(call(c, "add_model", str(tmp_path)))  # not a folder models are added from
    (root / "models" / "empty").mkdir(parents=True)
    assert "not a model folder" in msg(call(c, "add_model", str(root / "models" / "empty")))
    # a page names no other server path, and learns nothing of one: a folder that exists and one that
    # does not get the same answer
    assert msg(call(c, "add_model", "/etc")) == msg(call(c, "add_model", "/nonexistent"))
    model_copy = root / "models" / "mine"
    shutil.copytree(demo.studio.engines.default, model_copy)
    assert "added" in msg(call(c, "add_model", str(model_copy)))
    # bad shots: an empty prompt and a 0-second shot are refused inline and nothing is lost
    sid = call(c, "add_shot", pid)[1]
    editor = ["", "", 2.0, "1:1", 0, "", 1, 2, 5.0, None, None]
    out = call(c, "save_shot", pid, sid, *editor)
    assert "prompt is empty" in msg(out)
    editor[0], editor[2] = "a red ball rolls to the right", 0
    assert "seconds must be" in msg(call(c, "render_shot", pid, sid, None, *editor))
    editor[2] = 0.01  # under one frame at the rate the studio's takes are made (8 fps): the minimum is said
    assert "seconds must be at least one frame: 0.125 s at 8 fps, got 0.01" in msg(call(c, "save_shot", pid, sid,
                                                                                          *editor))
    editor[2] = 1.0
    assert "saved" in msg(call(c, "save_shot", pid, sid, *editor))
    assert demo.studio.store.shot(sid)["prompt"] == "a red ball rolls to the right"


def test_a_start_image_of_another_shape_is_shown_framed_and_letterboxed_by_choice(server, tmp_path):
    """A 4:3 still in a 16:9 shot: shown cropped as the shot will crop it, or letterboxed whole by choice (kept
    with the shot); the take's first frame is the still as it was shown."""
    from gradio_client import handle_file

    from engine.world import render
    from engine.world.scene import Obj, Scene

    demo, c, root = server
    store = demo.studio.store
    still = tmp_path / "four-three.png"
    frame = render(Scene((Obj("red", "ball", "big", "still", x0=0.5, y0=0.5),), "grass"), 192, 144, 8.0, 1)[0]
    Image.fromarray(frame).save(still)
    pid = call(c, "create_project", "Framing")[0]
    sid = call(c, "add_shot", pid)[1]
    assert "saved" in msg(call(c, "save_shot", pid, sid, "a red ball rolls right", "", 1.0, "16:9", 0, "", 1, 2,
                               5.0, handle_file(str(still)), None))
    path = str(store.path(store.shot(sid)["start_image"]))
    img, said = call(c, "set_start_fit", pid, sid, handle_file(path), "16:9", "crop")
    assert "the 16:9 shot crops 36 px of its height" in said and store.shot(sid)["fit"] == "crop"
    img, said = call(c, "set_start_fit", pid, sid, handle_file(path), "16:9", "letterbox")
    assert "black bars left and right" in said and store.shot(sid)["fit"] == "letterbox"
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio itself refuses another fit
        call(c, "set_start_fit", pid, sid, handle_file(path), "16:9", "stretch")
    assert "queued" in msg(call(c, "render_shot", pid, sid, None, "a red ball rolls right", "", 1.0, "16:9", 0, "",
                                1, 2, 5.0, handle_file(path), None))
    demo.studio.queue.wait(120)
    from engine.video import media

    take = store.takes(pid, sid)[0]
    first = media.read_video(store.path(take["path"])).frames[0].astype(int)
    assert first[:, :20].max() < 40 and first[:, -20:].max() < 40  # the bars, as shown
    assert first[:, 100:156].mean() > 40


def test_direct_motion_through_the_api(server):
    """A shot's motion as JSON (the path editor's "Edit as JSON"): checked, saved, refused with the reason and
    nothing saved, and dropped again by "Back to the plan"."""
    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Directed by API")[0]
    sid = call(c, "add_shot", pid)[1]
    call(c, "save_shot", pid, sid, "a red ball rolls to the right", "", 2.0, "1:1", 0, "", 1, 2, 5.0, None, None)
    motion = {"background": "grass", "pillar": False, "camera": "static",
              "objects": [{"colour": "red", "shape": "ball", "size": "small", "points": [[0.1, 0.8], [0.9, 0.2]],
                           "start": 0.0, "end": 2.0, "easing": "ease-out"}]}
    out = call(c, "direct_motion", pid, sid, json.dumps(motion))
    assert "saved: small red ball, right" in msg(out) and json.loads(store.shot(sid)["motion"]) == motion
    for text, said in (("{not json", "not valid JSON"), (json.dumps({**motion, "objects": []}), "no objects"),
                       (json.dumps({**motion, "objects": motion["objects"] * 4}), "at most 3")):
        assert said in msg(call(c, "direct_motion", pid, sid, text))
        assert json.loads(store.shot(sid)["motion"]) == motion
    assert "back to the plan" in msg(call(c, "motion_to_plan", pid, sid))
    assert store.shot(sid)["motion"] is None


def _project_with_takes(server, prompts=("a red ball rolls right", "a blue box falls", "a green triangle spins")):
    demo, c, root = server
    pid = call(c, "create_project", "Three shots")[0]
    sids = []
    for p in prompts:
        sid = call(c, "add_shot", pid)[1]
        call(c, "select_shot", pid, sid)
        assert "saved" in msg(call(c, "save_shot", pid, sid, p, "", 1.0, "1:1", 0, "static camera", 1, 2, 5.0,
                                   None, None))
        sids.append(sid)
    queued = msg(call(c, "render_all", pid, None))
    assert "queued 3" in queued
    if "spins" in " ".join(prompts):  # a word no training caption has: the message says so, and which shot
        assert "never saw 'spins'" in queued and "(shot 3)" in queued
    table = call(c, "watch_queue", pid, None)[0]
    assert [r[3] for r in table["data"]] == ["done"] * 3
    return pid, sids


def assert_signed(root, store, take):
    """The take's MP4 carries a C2PA manifest from the studio's signer whose record matches the take's."""
    from engine.provenance import read_manifest, trust_anchors_pem

    report = read_manifest(store.path(take["path"]), trust_anchors_pem(root / "config"))
    assert report.trusted, (take["kind"], report.to_dict())
    assert report.record.frame_count == take["frames"], take["kind"]


def test_storyboard_takes_and_timeline(server):
    demo, c, root = server
    store = demo.studio.store
    pid, sids = _project_with_takes(server)
    call(c, "move_shot_down", pid, sids[0])
    call(c, "move_shot_up", pid, sids[0])
    takes = [store.takes(pid, s)[0]["id"] for s in sids]
    info, strip, m = call(c, "select_take", takes[0])
    assert info["prompt"].startswith("a red")
    assert f"data-strip='{'G' * store.take(takes[0])['frames']}'" in strip
    settings = call(c, "use_settings", takes[1])
    assert settings[0] == "a blue box falls"
    # each shot's card holds its takes as videos the page can play (served from the projects folder only)
    cards = call(c, "storyboard", pid)[0]
    for sid, t in zip(sids, takes):
        card = cards.split(f"data-shot='{sid}'")[1].split("data-shot=")[0]
        assert f"data-take='{t}'" in card and card.count("<video") == 1
    url = re.search(r"src='(gradio_api/file=[^']+)'", cards).group(1)
    with urllib.request.urlopen(c.src.rstrip("/") + "/" + url) as r:
        assert r.status == 200 and r.read(12)[4:8] == b"ftyp"
    for i, t in enumerate(takes):
        assert f"take 1 is on the timeline (clip {i + 1})" in call(c, "promote", t)
    assert "★ on the timeline" in call(c, "storyboard", pid)[0]
    # take verbs
    assert "queued" in call(c, "extend_forward", takes[0], 1.0, None)
    assert "queued" in call(c, "extend_backward", takes[0], 1.0, None)
    assert "queued" in call(c, "loop", takes[0], None)
    assert "⚠️" in call(c, "remix", takes[0], "  ", 0.5, None)
    assert "queued" in call(c, "remix", takes[0], "a red box rolls right", 0.5, None)
    assert "queued" in call(c, "bridge", pid, takes[0], 0.5, None)
    assert "last shot" in call(c, "bridge", pid, takes[2], 0.5, None)
    call(c, "watch_queue", pid, None)
    kinds = sorted(t["kind"] for t in store.takes(pid, sids[0]))
    assert kinds == ["bridge", "extend", "extend", "generate", "loop", "remix"], [j["error"] for j in store.jobs(pid)]
    ext = [t for t in store.takes(pid, sids[0]) if t["kind"] == "extend"][0]
    assert ext["frames"] > store.take(takes[0])["frames"]
    for t in store.takes(pid, sids[0]):  # every take is signed, not only exports
        assert_signed(root, store, t)
    # several takes under a card; choosing one replaces its shot's clip on the timeline, in place
    card = call(c, "storyboard", pid)[0].split(f"data-shot='{sids[0]}'")[1].split("data-shot=")[0]
    assert card.count("<video") == 6 and card.count("take chosen") == 1
    loop = [t["id"] for t in store.takes(pid, sids[0])].index(
        next(t["id"] for t in store.takes(pid, sids[0]) if t["kind"] == "loop"))
    loop_id = store.takes(pid, sids[0])[loop]["id"]
    assert f"clip 1 on the timeline now uses take {loop + 1} (was take 1)" in call(c, "promote", loop_id)
    assert [e["take_id"] for e in store.timeline(pid)] == [loop_id, *takes[1:]]
    assert f"take chosen' data-take='{loop_id}'" in call(c, "storyboard", pid)[0]
    assert "clip 1 on the timeline now uses take 1" in call(c, "promote", takes[0])
    out = call(c, "recut", pid, sids[0], takes[0], 2, 6)
    assert "frames 2-6" in msg(out)
    assert "⚠️" in msg(call(c, "recut", pid, sids[0], takes[0], 6, 2))
    # timeline: reorder, trim, crossfade, bridge, play, export
    table, entry, total, track, m = call(c, "timeline", pid)
    assert json.loads(track)["frames"] > 0  # the track: the cut as the page draws it
    entries = [e["id"] for e in store.timeline(pid)]
    call(c, "move_clip_later", pid, entries[0])
    call(c, "move_clip_earlier", pid, entries[0])
    assert [e["id"] for e in store.timeline(pid)] == entries
    assert call(c, "select_clip", entries[1])[2] == "cut"
    assert "trimmed" in msg(call(c, "trim_clip", pid, entries[1], 1, 0))
    assert "⚠️" in msg(call(c, "trim_clip", pid, entries[1], 5, 5))
    assert "crossfade" in msg(call(c, "set_transition", pid, entries[1], "crossfade", 0.25, None))
    assert "⚠️" in msg(call(c, "set_transition", pid, entries[0], "crossfade", 0.25, None))
    # a crossfade overlaps the clips it joins: one as long as a (1 s) clip is refused, the 0.25 s one stays
    assert "lasts at most" in msg(call(c, "set_transition", pid, entries[1], "crossfade", 1.0, None))
    assert store.entry(entries[1])["transition_seconds"] == 0.25
    assert "bridge" in msg(call(c, "set_transition", pid, entries[2], "bridge", 0.5, None))
    call(c, "watch_queue", pid, None)
    assert store.entry(entries[2])["transition"] == "bridge" and store.entry(entries[2])["bridge_take_id"]
    video, m = call(c, "play_cut", pid, "8")
    assert m == ""
    files, m = call(c, "export", pid, "24", ["MP4", "OTIO", "EDL", "FCP XML"])
    assert "exported" in m and len(files) == 4
    # the timeline's total is the exported cut's length to the frame (trims, a crossfade and a bridge in it)
    from engine.video import media
    from studio.export import timecode as export_tc
    from studio.panels.timeline import refresh

    mp4 = next(f for f in files if str(f).endswith(".mp4"))
    frames = len(media.read_video(mp4))
    total = refresh(demo.studio, pid, None, "24")[2]
    assert f" · {frames} frames at 24 fps" in total and total.startswith(f"Total: {export_tc(frames, 24)}"), total
    assert call(c, "timeline", pid)[0]["data"][0][2] == "Shot 1 · take 1"  # takes named after their shot
    assert "⚠️" in msg(call(c, "export", pid, "24", []))
    call(c, "remove_clip", pid, entries[2])
    assert len(store.timeline(pid)) == 2
    call(c, "delete_shot", pid, sids[2])
    assert len(store.shots(pid)) == 2


def test_fill_inpaint_and_uploads(server, tmp_path):
    demo, c, root = server
    from gradio_client import handle_file

    store = demo.studio.store
    pid = call(c, "create_project", "Footage")[0]
    assert call(c, "fill_takes", pid) is None
    clip = tmp_path / "carphone.mp4"
    shutil.copyfile(CARPHONE, clip)
    out = call(c, "upload_clip", pid, handle_file(str(clip)))
    tid = out[0]
    assert "loaded carphone.mp4" in msg(out)
    n = store.take(tid)["frames"]
    assert "C" * n in out[3]
    strip = call(c, "scrub", tid, 10, "")[0]  # the strip marks the frame; the Frame box is the page's own
    assert "cur' title='frame 10: camera'" in strip
    # a clip shown again once a fix has run leaves the Frame box alone (its number may have been typed since),
    # unless the number is past the clip's end
    from studio.panels.fill import show

    assert show(demo.studio, tid, 12, keep=True)[0] == {"__type__": "update", "maximum": n - 1}
    assert show(demo.studio, tid, 10 ** 6, keep=True)[0]["value"] == n - 1
    assert show(demo.studio, tid, 12)[0]["value"] == 12
    assert call(c, "mark_start", tid, 10)[0] == 10
    assert call(c, "mark_end", tid, 10, 13, "")[0] == "10-13"
    assert "⚠️" in call(c, "fill", pid, tid, "5-999", "", None)
    assert "no preview" in msg(call(c, "apply_fix", pid, tid, ""))
    original = store.path(store.take(tid)["path"]).read_bytes()
    takes_before = len(store.takes(pid))
    m = call(c, "fill", pid, tid, "10-13", "", None)  # the method left out: Auto
    assert "queued" in m and "gap 10-13: optical flow (this world model draws only its own world of shapes; this " \
                             "clip is camera footage" in m, m
    call(c, "watch_queue", pid, None)
    # the fill is a preview: no take yet, the clip's file untouched, before and after side by side
    assert len(store.takes(pid)) == takes_before, [j["error"] for j in store.jobs(pid)]
    loaded = call(c, "load_take", pid, tid)
    vid = loaded[6]
    assert vid.startswith("v") and "waiting" in msg(loaded)
    made = loaded[3].split("data-strip='")[1].split("'")[0]
    assert made[:10] == "C" * 10 and set(made[10:14]) <= {"P", "I", "G"} and made[14:] == "C" * (n - 14), made
    strip, before, after, m = call(c, "scrub", tid, 11, vid)
    b, a = (np.asarray(Image.open(x["path"] if isinstance(x, dict) else x)) for x in (before, after))
    assert b.shape == a.shape and np.abs(b.astype(int) - a.astype(int)).mean() > 1  # frame 11 was repainted
    assert "cur' title='frame 3: camera'" in call(c, "scrub", tid, 3, vid)[0]
    # apply: a new take made from the preview; the source take is as it was
    applied = call(c, "apply_fix", pid, tid, vid)
    filled = [t for t in store.takes(pid) if t["kind"] == "fill"]
    assert len(filled) == 1 and applied[0] == filled[0]["id"] and "applied as new take" in msg(applied)
    assert filled[0]["settings"]["source_take"] == tid and applied[6] == ""
    # the bundled model draws only its world: camera footage is filled by flow, so no frame is the model's to mark
    assert [g["how"] for g in filled[0]["settings"]["plan"]] == ["flow"] and filled[0]["settings"]["method"] == "auto"
    assert not filled[0]["provenance"].get("watermark")
    assert store.path(store.take(tid)["path"]).read_bytes() == original
    assert "gone" in msg(call(c, "apply_fix", pid, tid, vid))  # applied once, never twice
    assert_signed(root, store, filled[0])  # signed as a preview, moved as it is
    strip = call(c, "load_take", pid, filled[0]["id"])[3]
    assert strip.split("data-strip='")[1].split("'")[0] == made
    assert "found" in call(c, "auto_detect", tid)[1]
    # masks: the right size is queued, a wrong size or an empty mask is refused inline
    mask, m = call(c, "mask_frame", tid, 3)
    w, h = Image.open(mask["background"] if isinstance(mask, dict) and "background" in mask else mask).size
    bg = tmp_path / "bg.png"
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(bg)
    layer = np.zeros((h, w, 4), np.uint8)
    layer[10:40, 10:40] = 255
    Image.fromarray(layer).save(tmp_path / "layer.png")
    value = {"background": handle_file(str(bg)), "layers": [handle_file(str(tmp_path / "layer.png"))],
             "composite": handle_file(str(bg))}
    assert "queued" in call(c, "inpaint", pid, tid, value, "a red car", None)
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(tmp_path / "small.png")
    small = {"background": handle_file(str(tmp_path / "small.png")), "layers": [], "composite": None}
    assert "the mask is 48x32" in call(c, "inpaint", pid, tid, small, "a red car", None)
    empty = {"background": handle_file(str(bg)), "layers": [], "composite": handle_file(str(bg))}
    assert "mask is empty" in call(c, "inpaint", pid, tid, empty, "a red car", None)
    call(c, "watch_queue", pid, None)
    # discard: the repaint preview goes away and nothing is added
    vid = call(c, "load_take", pid, tid)[6]
    assert vid, [j["error"] for j in store.jobs(pid)]
    from studio import jobs

    painted = [r for r in jobs.preview(store, pid, vid)["provenance"]["ranges"] if r["kind"] == "inpainted"]
    assert painted and all("watermark_region" in r.get("details", {}) for r in painted)  # only the mask is marked
    out = call(c, "discard_fix", pid, tid, vid)
    assert "discarded" in msg(out) and out[6] == "" and out[0] == tid
    assert not [t for t in store.takes(pid) if t["kind"] == "inpaint"]
    assert not list((root / "projects" / "media" / pid / "pending").glob("*"))
    assert store.path(store.take(tid)["path"]).read_bytes() == original
    # bad uploads: corrupt, too large, wrong type; the project keeps what it had
    before = len(store.takes(pid))
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    assert "could not be decoded" in msg(call(c, "upload_clip", pid, handle_file(str(bad))))
    huge = tmp_path / "huge.mp4"
    huge.write_bytes(np.random.default_rng(0).bytes(1_500_000))
    assert "limited to 1 MB" in msg(call(c, "upload_clip", pid, handle_file(str(huge))))
    limit, demo.studio.max_upload_gb = demo.studio.max_upload_gb, 1e-4  # 100 kB of decoded frames
    try:  # a valid clip that decodes to more than the memory allowed is refused while decoding
        assert "decodes to more than 0.0001 GB of frames" in msg(call(c, "upload_clip", pid, handle_file(str(clip))))
    finally:
        demo.studio.max_upload_gb = limit
    assert len(store.takes(pid)) == before


def test_fill_method_is_chosen_and_said_before_queueing(server, tmp_path):
    """Issue 31: the bundled (world) model never paints into camera footage. Generate on an upload is refused
    before anything is queued; Interpolate only fills by flow and holds an end, and the preview records it."""
    from gradio_client import handle_file

    from engine.provenance import ProvenanceRecord
    from studio import jobs

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Methods")[0]
    tid = call(c, "upload_clip", pid, handle_file(str(CARPHONE)))[0]
    queued = len(store.jobs(pid))
    m = call(c, "fill", pid, tid, "10-13", "", None, "Generate")
    assert "⚠️" in m and "camera footage" in m and "Interpolate only" in m, m
    assert len(store.jobs(pid)) == queued
    m = call(c, "fill", pid, tid, "0-1, 20", "", None, "Interpolate only")
    assert "queued" in m and "gap 0-1: hold a frame (frame 2 repeated" in m and "gap 20-20: optical flow" in m, m
    call(c, "watch_queue", pid, None)
    vid = call(c, "load_take", pid, tid)[6]
    assert vid, [j["error"] for j in store.jobs(pid)]
    settings = jobs.preview(store, pid, vid)["settings"]
    assert settings["method"] == "interpolate" and [g["how"] for g in settings["plan"]] == ["hold", "flow"]
    made = ProvenanceRecord.from_dict(jobs.preview(store, pid, vid)["provenance"])
    assert made.range_at(0).details["method"] == "hold" and made.range_at(20).details["method"] == "flow"
    assert made.strip()[:3] == "IIC" and made.strip()[20] == "I"
    assert "discarded" in msg(call(c, "discard_fix", pid, tid, vid))


def test_refusals_say_why_and_keep_the_project_whole(server, tmp_path):
    """What a fuzzed page sent: each is refused inline, says what is allowed, and nothing is lost or left over."""
    from gradio.utils import get_upload_folder
    from gradio_client import handle_file

    demo, c, root = server
    store = demo.studio.store
    base = c.src.rstrip("/")
    pid = call(c, "create_project", "Refusals")[0]
    # the page is served the projects' media and nothing else of the projects folder: never the database
    for name in ("studio.db", "studio.db-wal", "models.json"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{base}/gradio_api/file={root / 'projects' / name}")
        assert e.value.code in (403, 404), name
    assert store.has_project(pid)  # the database is whole after the attempts
    import httpx  # an uploaded page comes back as a download, never as a page on the studio's origin

    up = httpx.post(f"{base}/gradio_api/upload", files={"files": ("x.html", b"<script>1</script>", "text/html")})
    got = httpx.get(f"{base}/gradio_api/file={up.json()[0]}")
    assert got.headers["content-disposition"].startswith("attachment") and "html" not in got.headers["content-type"]
    # names: one line of printable text, at most 120 characters; a duplicate of a long name still fits
    assert "one line" in msg(call(c, "rename_project", pid, "Act 1\nINSERT"))
    assert "one line" in msg(call(c, "rename_project", pid, "Act\u202e1"))
    assert "renamed" in msg(call(c, "rename_project", pid, "x" * 120))
    dup = call(c, "duplicate_project", pid)[0]
    assert len(store.project(dup)["name"]) <= 120 and store.project(dup)["name"].endswith("(copy)")
    call(c, "delete_project", dup)
    # a project deleted (in another tab, say) is not written to
    assert "no project is open" in msg(call(c, "add_shot", dup))
    assert "no project is open" in msg(call(c, "upload_clip", dup, handle_file(str(CARPHONE))))
    assert not store.has_project(dup)
    # seeds: whole numbers a generator takes; take k renders with seed + k - 1
    sid = call(c, "add_shot", pid)[1]
    editor = ["a red ball rolls right", "", 1.0, "1:1", 10 ** 30, "", 1, 2, 5.0, None, None]
    assert "seed must be a whole number from 0" in msg(call(c, "save_shot", pid, sid, *editor))
    editor[4], editor[6] = 2 ** 32 - 1, 2
    assert "with 2 takes" in msg(call(c, "save_shot", pid, sid, *editor))
    editor[4] = 7
    # stills: anything that is not a readable image is refused with what is allowed, and not kept anywhere
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    out = msg(call(c, "save_shot", pid, sid, *editor[:9], handle_file(str(text)), None))
    assert "notes.png is not an image this studio can read (PNG or JPEG)" in out and str(tmp_path) not in out
    assert not list(Path(get_upload_folder()).rglob("notes.png"))  # the refused upload left no copy behind
    big = tmp_path / "big.png"
    Image.new("RGB", (9000, 16), "red").save(big)
    assert "9000x16; up to 4096 px a side" in msg(call(c, "save_shot", pid, sid, *editor[:9], handle_file(str(big)),
                                                       None))
    still = tmp_path / "still.png"
    Image.new("RGB", (96, 64), "blue").save(still)
    assert "saved" in msg(call(c, "save_shot", pid, sid, *editor[:9], handle_file(str(still)), None))
    kept = store.path(store.shot(sid)["start_image"])
    assert kept.parent == store.media(pid, "stills") and Image.open(kept).size == (96, 64)
    # saving again with the project's own still (as the page sends it back) keeps it as it is
    from studio.shots import keep_still

    assert keep_still(demo.studio, pid, str(kept)) == store.shot(sid)["start_image"]
    # a shot with a job waiting or rendering is not deleted from under it
    call(c, "render_shot", pid, sid, None, editor[0], "", 4.0, "1:1", 7, "", 1, 60, 5.0, None, None)
    assert demo.studio.queue.uses_shot(pid, sid)
    assert "jobs waiting or rendering" in msg(call(c, "delete_shot", pid, sid))
    assert store.shot(sid)["prompt"] == editor[0]
    call(c, "stop", pid)
    call(c, "watch_queue", pid, None)
    assert not demo.studio.queue.uses_shot(pid, sid)
    assert "shot deleted" in msg(call(c, "delete_shot", pid, sid))
    # a still renamed .mp4 decodes as one frame: not a clip to fill
    fake = tmp_path / "still.mp4"
    shutil.copyfile(still, fake)
    assert "holds one frame" in msg(call(c, "upload_clip", pid, handle_file(str(fake))))
    # fill ranges that overlap are refused before anything is queued
    tid = call(c, "upload_clip", pid, handle_file(str(CARPHONE)))[0]
    jobs = len(store.jobs(pid))
    assert "overlap" in call(c, "fill", pid, tid, "3-8,6-10", "", None)
    assert len(store.jobs(pid)) == jobs


def test_stop_keeps_partial(server):
    import time

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Stop me")[0]
    sid = call(c, "add_shot", pid)[1]
    call(c, "render_shot", pid, sid, None, "a red ball", "", 4.0, "1:1", 0, "", 1, 60, 5.0, None, None)
    t0 = time.time()
    while not any(j["status"] == "running" for j in store.jobs(pid)):
        assert time.time() - t0 < 60
        time.sleep(0.05)
    time.sleep(0.5)
    assert "stopping 1" in call(c, "stop", pid)
    call(c, "watch_queue", pid, None)
    job = store.jobs(pid)[-1]
    assert job["status"] == "stopped"
    take = store.take(job["result"][0])
    assert take["cancelled"] and take["frames"] > 0
    takes = call(c, "storyboard", pid, raw=True)[13]
    assert "partial" in takes["choices"][0][0]


def test_a_queue_you_can_keep_feeding(server):
    """Issue 31: three renders queued while a long one runs join the line in order; waiting jobs move up and
    down and are cancelled before they start (the running one is Stop's); the running job shows its elapsed
    time and the time left, each waiting job its estimate; the jobs run in the line's order, a cancelled one
    never. The long shot is slow by its length and steps (8 s, 40 steps), not by sleeping."""
    import time

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Keep feeding")[0]
    slow, *quick = [call(c, "add_shot", pid)[1] for _ in range(4)]
    t0 = start_slow_render(c, store, pid, slow)
    for sid, prompt in zip(quick, ("a red ball rolls right", "a green ball falls", "a yellow box rises")):
        assert "queued 1" in msg(call(c, "render_shot", pid, sid, None, prompt, "", 1.0, "1:1", 0, "", 1, 4, 5.0,
                                      None, None))
    job_of = {j["params"]["shot_id"]: j["id"] for j in store.jobs(pid)}
    a, b, cc, d = (job_of[s] for s in (slow, *quick))
    assert [j["id"] for j in store.jobs(pid, status="waiting")] == [b, cc, d]  # in the order they were queued
    # the page's view while the long shot renders: elapsed and left, then each waiting job's time in line
    watch = c.submit(pid, None, api_name="/watch_queue")
    seen = None
    while seen is None:
        assert time.time() - t0 < 240 and not watch.done(), "no estimate while the long shot rendered"
        for out in watch.outputs():
            table, bar = unwrap(out[0]), unwrap(out[1])
            waiting = [r for r in table["data"] if r[3] == "waiting"] if table else []
            # measured: the long shot's own steps so far give its pace (before that, earlier jobs' speed may)
            if bar and "s a step" in bar and len(waiting) == 3 and all("starts in ~" in r[6] for r in waiting):
                seen = (table, bar)
        time.sleep(0.1)
    table, bar = seen
    assert re.search(r"\d+:\d\d elapsed · about \d+:\d\d left \([\d.e-]+ s a step\)", bar), bar
    assert "3 waiting · all done in about" in bar
    assert [r[0] for r in table["data"] if r[3] == "waiting"] == [b, cc, d]
    assert re.fullmatch(r"\d+:\d\d elapsed, (~\d+:\d\d|<0:01) left", next(r[6] for r in table["data"] if r[0] == a))
    # reorder and cancel what waits; the running job is not the line's to change
    assert "rendering; only waiting jobs are cancelled" in msg(call(c, "cancel_job", pid, a))
    table, bar, picked, m = call(c, "move_job_up", pid, d)
    assert "moved up" in m and picked == d
    assert [r[0] for r in table["data"] if r[3] == "waiting"] == [b, d, cc]
    assert "moved down" in msg(call(c, "move_job_down", pid, b))
    assert "first in line already" in msg(call(c, "move_job_up", pid, d))
    table, bar, picked, m = call(c, "cancel_job", pid, cc)
    assert "cancelled" in m and picked is None
    assert [r[0] for r in table["data"] if r[3] == "waiting"] == [d, b]
    assert any(j["status"] == "running" and j["id"] == a for j in store.jobs(pid)), "the long shot ended too soon"
    watch.result()
    jobs = {j["id"]: j for j in store.jobs(pid)}
    assert sorted((a, d, b), key=lambda j: jobs[j]["started"]) == [a, d, b]
    assert all(jobs[j]["status"] == "done" for j in (a, d, b)), [j["error"] for j in jobs.values()]
    assert jobs[cc]["status"] == "cancelled" and jobs[cc]["started"] is None and jobs[cc]["attempts"] == 0
    assert not store.takes(pid, quick[1])


def start_slow_render(c, store, pid, shot):
    """Queue a long take of `shot` and wait until it renders; when it started."""
    import time

    call(c, "render_shot", pid, shot, None, "a blue box falls", "", 8.0, "16:9", 0, "", 1, 40, 5.0, None, None)
    t0 = time.time()
    while not any(j["status"] == "running" for j in store.jobs(pid)):
        assert time.time() - t0 < 60
        time.sleep(0.05)
    return t0


def test_cancel_all_waiting_leaves_the_running_job(server):
    """Cancel all waiting empties the line in one click; the rendering job goes on until Stop."""

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Clear the line")[0]
    assert "no job is waiting" in msg(call(c, "cancel_waiting", pid))
    slow, *quick = [call(c, "add_shot", pid)[1] for _ in range(3)]
    start_slow_render(c, store, pid, slow)
    for sid in quick:
        call(c, "render_shot", pid, sid, None, "a red ball", "", 1.0, "1:1", 0, "", 1, 4, 5.0, None, None)
    table, bar, picked, m = call(c, "cancel_waiting", pid)
    assert "cancelled 2 waiting job(s)" in m and "rendering job goes on" in m and picked is None
    assert not [r for r in table["data"] if r[3] == "waiting"]
    jobs = store.jobs(pid)
    assert sorted(j["status"] for j in jobs) == ["cancelled", "cancelled", "running"], [j["status"] for j in jobs]
    assert "stopping 1 job" in msg(call(c, "stop", pid))
    demo.studio.queue.wait(120)
    assert not any(store.takes(pid, s) for s in quick)


def test_cards_show_each_take_as_it_finishes(server):
    """While a long take renders, the finished one is already under its card (the queue stream redraws)."""
    import time

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "As they finish")[0]
    quick, slow = call(c, "add_shot", pid)[1], call(c, "add_shot", pid)[1]
    call(c, "save_shot", pid, quick, "a red ball", "", 1.0, "1:1", 0, "", 1, 2, 5.0, None, None)
    call(c, "save_shot", pid, slow, "a blue box", "", 4.0, "1:1", 0, "", 1, 60, 5.0, None, None)
    call(c, "render_all", pid, None)
    job = c.submit(pid, quick, api_name="/watch_queue")
    t0, seen = time.time(), None
    while seen is None:
        assert time.time() - t0 < 240 and not job.done(), "no redraw of the cards while the slow take ran"
        for out in job.outputs():
            cards, table = unwrap(out[-1]), unwrap(out[0])
            running = [r for r in table["data"] if r[3] == "running"]
            if isinstance(cards, str) and "<video" in cards and running:
                seen = cards
        time.sleep(0.1)
    made = store.takes(pid, quick)[0]["id"]
    assert f"data-take='{made}'" in seen and seen.count("<video") == 1
    call(c, "stop", pid)
    job.result()


def test_cast_scene_render_and_continuity_report(server):
    """Cast editing, an invalid scene refused inline, then the storyboard rendered as one scene: each kept
    shot under its card with what the continuity check saw, the assembled scene playable, the report shown."""
    import json

    from studio import scene as scenes

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "A scene")[0]
    table, name, desc, m = call(c, "set_cast_member", pid, "ball", "the big red ball")
    assert "added ball" in m and table["data"] == [["ball", "the big red ball"]] and name == desc == ""
    assert "added box" in msg(call(c, "set_cast_member", pid, "box", "a small green box"))
    assert "box is now 'a small blue box'" in msg(call(c, "set_cast_member", pid, "box", "a small  blue box"))
    assert "name" in msg(call(c, "set_cast_member", pid, "", "a dog"))
    assert "describe dog" in msg(call(c, "set_cast_member", pid, "dog", " "))
    assert "no cast member 'dog'" in msg(call(c, "remove_cast_member", pid, "dog"))
    assert "added dog" in msg(call(c, "set_cast_member", pid, "dog", "a yellow dog"))
    table = call(c, "remove_cast_member", pid, "dog")[0]
    assert [r[0] for r in table["data"]] == ["ball", "box"] and store.cast(pid)["box"] == "a small blue box"
    assert call(c, "scene", pid)[0]["data"] == table["data"]
    a, b = call(c, "add_shot", pid)[1], call(c, "add_shot", pid)[1]
    call(c, "save_shot", pid, a, "{ball} rolls to the right", "", 1.0, "1:1", 0, "", 1, 2, 5.0, None, None)
    call(c, "save_shot", pid, b, "{dog} falls down", "", 1.0, "1:1", 3, "the camera pans left", 1, 2, 5.0,
         None, None)
    # an unknown member: the scene is refused with engine.scenes.scene's reason, said the storyboard's way
    jobs = len(store.jobs(pid))
    assert "shot 2, prompt: unknown cast member {dog}; the cast is: ball, box" in \
        msg(call(c, "render_scene", pid, None, 0))
    assert "unknown cast member {dog}" in msg(call(c, "render_shot", pid, b, None, "{dog} falls down", "", 1.0,
                                                    "1:1", 3, "", 1, 2, 5.0, None, None))
    assert "shot 2: unknown cast member {dog}" in msg(call(c, "render_all", pid, None))
    assert len(store.jobs(pid)) == jobs
    call(c, "save_shot", pid, b, "{box} falls down", "", 1.0, "1:1", 3, "the camera pans left", 1, 2, 5.0,
         None, None)
    queued = msg(call(c, "render_scene", pid, None, 0))
    assert "queued the scene: 2 shots, 2 s with ball, box" in queued and "never saw" not in queued
    table = call(c, "watch_queue", pid, None)[0]
    job = store.jobs(pid)[-1]
    assert job["kind"] == "scene" and job["status"] == "done", job["error"]
    sent = job["params"]["scene"]
    assert sent["cast"] == {"ball": "the big red ball", "box": "a small blue box"}
    assert [s.get("camera") for s in sent["shots"]] == ["static", "pan_left"] and sent["retries"] == 0
    # each shot's kept take is under its card, with its provenance and the look the check saw
    kept = [store.takes(pid, sid) for sid in (a, b)]
    assert [len(k) for k in kept] == [1, 1] and {k[0]["kind"] for k in kept} == {"scene"}
    assert kept[0][0]["settings"]["prompt"].startswith("The big red ball rolls to the right")
    assert kept[0][0]["provenance"]["ranges"] and kept[1][0]["settings"]["shot_prompt"] == "{box} falls down"
    cards = call(c, "storyboard", pid)[0]
    for sid, k in zip((a, b), kept):
        card = cards.split(f"data-shot='{sid}'")[1].split("data-shot=")[0]
        assert f"data-take='{k[0]['id']}'" in card and "continuity" in card
    # the assembled scene is a take of its own (no shot), signed, with the report in its settings
    whole = scenes.latest_scene(store, pid)
    for k in kept:
        assert_signed(root, store, k[0])
    assert_signed(root, store, whole)
    assert whole["shot_id"] is None and whole["frames"] == sum(k[0]["frames"] for k in kept)  # two cuts
    assert whole["settings"]["shot_takes"] == [k[0]["id"] for k in kept]
    side = json.loads(Path(f"{store.path(whole['path'])}.json").read_text())
    assert side["settings"]["continuity"]["checks"]
    cast, report, video = call(c, "scene", pid)
    for member, ref in whole["settings"]["cast_sheet"].items():  # the stills the looks came from, in the project
        assert member in ("ball", "box") and store.path(ref["image"]).is_file() and ref["from"]
        assert f"<figure data-member='{member}'><img alt='{member}' src='data:image/png;base64," in report
    checks = whole["settings"]["continuity"]["checks"]
    assert [(ch["shot"], ch["member"]) for ch in checks] == [(1, "ball"), (2, "box")]
    head = "Continuity passed" if whole["settings"]["continuity"]["ok"] else "Continuity broken in shot(s)"
    assert head in report and report.count("<tr class=") == 2
    for ch in checks:
        if not ch["ok"]:
            assert ch["problems"][0].split(" (")[0] in report
    assert (video["video"]["path"] if isinstance(video, dict) else video).endswith(".mp4")
    # the cast sheet as the page shows it: each still inlined with where it came from; a missing file is left out
    from PIL import Image

    still = store.media(pid, "cast") / "test-still.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(still)
    take = {"settings": {"cast_sheet": {"ball": {"image": store.rel(still), "from": "cast sheet"},
                                        "box": {"image": store.rel(still.with_name("gone.png")), "from": "shot 2"}}}}
    sheet = scenes.cast_sheet_html(store, take)
    assert "data-member='ball'" in sheet and "from cast sheet" in sheet and "box" not in sheet
    assert scenes.cast_sheet_html(store, None) == "" and scenes.cast_sheet_html(store, {"settings": {}}) == ""
    from types import SimpleNamespace

    from studio.jobs import _save_cast_sheet

    grey = np.full((32, 48, 3), 200, np.uint8)  # what a scene's references look like to the job that saves them
    saved = _save_cast_sheet(store, pid, SimpleNamespace(references={"ball": grey},
                                                         settings={"reference_from": {"ball": "cast sheet"}}))
    assert saved["ball"]["from"] == "cast sheet"
    assert np.array_equal(np.asarray(Image.open(store.path(saved["ball"]["image"]))), grey)
    assert "data-member='ball'" in scenes.cast_sheet_html(store, {"settings": {"cast_sheet": saved}})
    # the report's two outcomes, as the page words them
    passed = {"settings": {"shots": [1, 2], "continuity": {"ok": True, "extractor": "world", "pass_rate": 1.0,
                                                           "broken_shots": [], "checks": [
                                                               {"shot": 1, "member": "ball", "ok": True,
                                                                "problems": []}]}}}
    assert "every cast member keeps its look in all 2 shots" in scenes.report_html(passed)
    broken = {"settings": {"shots": [1, 2], "continuity": {"ok": False, "extractor": "world", "pass_rate": 0.5,
                                                           "broken_shots": [2], "checks": [
                                                               {"shot": 2, "member": "ball", "ok": False,
                                                                "problems": ["shape box, expected ball"]}]}}}
    assert "broken in shot(s) 2" in scenes.report_html(broken) and "shape box, expected ball" in \
        scenes.report_html(broken)
    # the timeline's transitions go into the scene: a crossfade into shot 2 once its clip has one
    for k in kept:
        call(c, "promote", k[0]["id"])
    entry = store.timeline(pid)[1]["id"]
    call(c, "set_transition", pid, entry, "crossfade", 0.25, None)
    scene, ids = scenes.scene_dict(store, pid)
    assert ids == [a, b] and scene["shots"][1]["transition"] == {"type": "crossfade", "seconds": 0.25}


def test_long_shot_plays_its_windows_as_they_finish(server):
    """A 5-second shot is more than one window: while it renders, its card plays the partial file and says
    which window is done; the finished take is whole and signed."""
    import time

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Long shot")[0]
    sid = call(c, "add_shot", pid)[1]
    queued = msg(call(c, "render_shot", pid, sid, None, "a red ball rolls to the right", "", 5.0, "1:1",
                      0, "", 1, 60, 5.0, None, None))
    assert "queued 1" in queued and "never saw" not in queued
    job = c.submit(pid, sid, api_name="/watch_queue")
    t0, seen = time.time(), []
    while not job.done():
        assert time.time() - t0 < 300
        for out in job.outputs():
            cards = unwrap(out[-1])
            if isinstance(cards, str) and "take rendering" in cards:
                seen.append(re.search(r"window (\d+)/(\d+)", cards).groups())
        time.sleep(0.1)
    job.result()
    assert seen, "the card never showed a finished window"
    assert all(int(k) >= 1 and int(n) >= 3 for k, n in seen)
    take = store.takes(pid, sid)[0]
    assert take["frames"] == 40 and not take["cancelled"] and take["settings"]["long_take"]
    assert f"{take['settings']['windows']} windows" in call(c, "storyboard", pid)[0]


def _spans(record):
    """[(kind, start, stop)] with neighbouring ranges of one kind merged (a conform splits camera ranges)."""
    out = []
    for r in record.ranges:
        if out and out[-1][0] == r.kind and out[-1][2] == r.start:
            out[-1] = (r.kind, out[-1][1], r.stop)
        else:
            out.append((r.kind, r.start, r.stop))
    return out


def test_own_footage_joins_the_timeline_and_the_signed_export_says_which_frames_are_camera(server, tmp_path):
    """Upload camera footage, fix it, render a shot; both clips and the fix on the timeline; the exported MP4's
    C2PA manifest states the camera, transition, generated and interpolated ranges; the edit lists name the
    uploaded file as the camera clips' source."""
    import opentimelineio as otio
    from gradio_client import handle_file

    from engine.provenance import ProvenanceRecord, read_manifest, trust_anchors_pem
    from engine.video import media

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Own footage")[0]
    clip = tmp_path / "carphone.mp4"
    shutil.copyfile(CARPHONE, clip)
    cam = call(c, "upload_clip", pid, handle_file(str(clip)))[0]
    n, cam_fps = store.take(cam)["frames"], store.take(cam)["fps"]
    assert store.take(cam)["shot_id"] is None and store.take(cam)["provenance"]["ranges"] == [
        {"start": 0, "stop": n, "kind": "camera", "source": "carphone.mp4", "source_start": 0}]
    # the footage bin: the upload plays in the storyboard with Use on timeline, even before there is a shot
    cards = call(c, "storyboard", pid)[0]
    assert "No shots yet" in cards and "id='footage-bin'" in cards
    fig = cards.split(f"data-take='{cam}' data-footage")[1].split("</figure>")[0]
    assert "<video" in fig and "carphone.mp4" in fig and f"{n} camera" in fig and "data-act='choose'" in fig
    # a fix of the footage is footage too: camera frames stay camera, the filled ones are marked
    assert "queued" in call(c, "fill", pid, cam, "10-13", "", None)
    call(c, "watch_queue", pid, None)
    fixed = call(c, "apply_fix", pid, cam, call(c, "load_take", pid, cam)[6])[0]
    made = ProvenanceRecord.from_dict(store.take(fixed)["provenance"]).strip()
    assert made[:10] == "C" * 10 and set(made[10:14]) <= {"P", "I", "G"} and made[14:] == "C" * (n - 14), made
    assert store.take(fixed)["shot_id"] is None
    assert [t["id"] for t in store.footage(pid)] == [cam, fixed]
    assert "carphone.mp4 · fill" in call(c, "storyboard", pid)[0].split("id='footage-bin'")[1]
    assert "this clip is footage" in call(c, "loop", fixed, None)  # refused inline: there is no shot to re-render
    # a generated shot
    sid = call(c, "add_shot", pid)[1]
    call(c, "render_shot", pid, sid, None, "a red ball rolls to the right", "", 1.0, "1:1", 0, "", 1, 2, 5.0,
         None, None)
    call(c, "watch_queue", pid, None)
    gen = store.takes(pid, sid)[0]
    # on the timeline: the footage (from the Fill panel), the shot's take, the fix (footage appends each time)
    assert "carphone.mp4 is on the timeline (clip 1)" in call(c, "use_clip", pid, cam)
    assert "take 1 is on the timeline (clip 2)" in call(c, "promote", gen["id"])
    assert "carphone.mp4 · fill is on the timeline (clip 3)" in call(c, "promote", fixed)
    assert "⚠️" in call(c, "use_clip", pid, "")
    table = call(c, "timeline", pid)[0]["data"]
    assert [r[1] for r in table] == ["footage: carphone.mp4", "1. a red ball rolls to the right",
                                     "footage: carphone.mp4 · fill"]
    bin_ = call(c, "storyboard", pid)[0].split("id='footage-bin'")[1]
    assert bin_.count("★ on the timeline") == 2
    # trim, transitions and reorder work on footage as on any clip
    e = [x["id"] for x in store.timeline(pid)]
    call(c, "move_clip_later", pid, e[0])
    assert [x["id"] for x in store.timeline(pid)] == [e[1], e[0], e[2]]
    call(c, "move_clip_earlier", pid, e[0])
    assert "trimmed" in msg(call(c, "trim_clip", pid, e[0], 5, 0))
    assert "crossfade" in msg(call(c, "set_transition", pid, e[1], "crossfade", 0.25, None))
    files, m = call(c, "export", pid, "24", ["MP4", "OTIO", "EDL", "FCP XML"])
    assert "exported" in m
    out = {Path(f["path"] if isinstance(f, dict) else f).suffix: Path(f["path"] if isinstance(f, dict) else f)
           for f in files}
    folder = sorted((root / "projects" / "media" / pid / "exports").iterdir())[-1]
    # the MP4 as exported (the page's copy is the same file): signed, and its manifest says which frames are which
    mp4 = folder / "cut.mp4"
    assert out[".mp4"].read_bytes() == mp4.read_bytes()
    report = read_manifest(mp4, trust_anchors_pem(root / "config"))
    assert report.trusted, report.to_dict()
    assert report.digital_source_type == "http://cv.iptc.org/newscodes/digitalsourcetype/" \
                                         "compositeWithTrainedAlgorithmicMedia"
    rec = report.record
    assert rec.frame_count == len(media.read_video(mp4))
    # footage at 29.97 fps delivered at 24 is conformed (nearest source frame), so it stays camera frame by frame
    k = 24 / cam_fps
    cam_len = int((n - 1) * k + 1e-9) + 1 - round(5 * k)  # after the 5-frame trim in
    fade = round(0.25 * 24)
    gen_len = (gen["frames"] - 1) * 3 + 1  # 8 fps -> 24 fps: two in-betweens per pair
    spans = _spans(rec)
    assert spans[0] == ("camera", 0, cam_len - fade) and spans[1] == ("transition", cam_len - fade, cam_len)
    second = [s for s in spans if cam_len <= s[1] < cam_len + gen_len - fade]
    # the shot after the crossfade: its own frames every third frame, two optical-flow in-betweens between
    assert [s[0] for s in second] == ["generated", "interpolated"] * ((gen_len - fade) // 3) + ["generated"], second
    assert all(b - a == 2 for kind, a, b in second if kind == "interpolated")
    third = [s for s in spans if s[1] >= cam_len + gen_len - fade]
    assert third[0][0] == "camera" and third[-1][0] == "camera" and len(third) > 1
    assert {s[0] for s in third[1:-1]} <= {"inpainted", "interpolated", "generated"}, third
    assert third[-1][2] == rec.frame_count
    camera = [r for r in rec.ranges if r.kind == "camera"]
    assert all(r.source == "carphone.mp4" for r in camera)
    assert camera[0].source_start == 5  # the trim in, in the uploaded file's own frames
    assert all(r.generation is not None for r in rec.ranges if r.kind == "generated")
    # the edit lists name the uploaded file as the source of the camera clips
    tl = otio.adapters.read_from_file(str(folder / "cut.otio"))
    clips = list(tl.find_clips())
    assert [x.metadata["tenku"]["source_file"] for x in clips] == ["carphone.mp4", "", "carphone.mp4"]
    assert clips[0].media_reference.name == "carphone.mp4" and "carphone.mp4" in clips[0].name
    assert "carphone" in Path(clips[0].media_reference.target_url).name
    edl = (folder / "cut.edl").read_text()
    events = [line for line in edl.splitlines() if line[:3].isdigit()]
    assert events[0].split()[1] == "CARPHONE" and events[-1].split()[1] == "CARPHONE", edl  # the reels: CMX 3600's
    assert "* FROM CLIP NAME:  clip 1 carphone.mp4" in edl
    xml = (folder / "cut.xml").read_text()
    assert "<name>carphone.mp4</name>" in xml
    assert len(otio.adapters.read_from_file(str(folder / "cut.xml")).find_clips()) == 3


def test_stills_and_clips_are_checked_as_they_upload(server, tmp_path):
    """Issue 31: a 50 MB junk ".png" uploaded as a start image was taken, and refused only at Save. A still is
    checked as it arrives (size, then a decode): a bad one is said at once, emptied from the image box and
    removed from the upload folder; a good one stays, and Save keeps it."""
    from gradio.utils import get_upload_folder
    from gradio_client import handle_file

    demo, c, root = server
    uploads = Path(get_upload_folder())
    for name in ("junk.png", "notes.png", "wide.png"):  # left by an earlier run's last step (Gradio's own refusal)
        for p in uploads.rglob(name):
            p.unlink()
    junk = tmp_path / "junk.png"
    junk.write_bytes(np.random.default_rng(1).bytes(1_500_000))  # over the test studio's 1 MB limit
    image, said = call(c, "check_start_image", handle_file(str(junk)))
    assert image is None and said == "⚠️ junk.png is 1.5 MB; uploads are limited to 1 MB", said
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    image, said = call(c, "check_end_image", handle_file(str(text)))
    assert image is None and "notes.png is not an image this studio can read (PNG or JPEG)" in said
    big = tmp_path / "wide.png"
    Image.new("RGB", (9000, 16), "red").save(big)
    assert "9000x16; up to 4096 px a side" in call(c, "check_start_image", handle_file(str(big)))[1]
    assert not [p for n in ("junk.png", "notes.png", "wide.png") for p in uploads.rglob(n)]  # none left behind
    still = tmp_path / "sky.png"
    Image.new("RGB", (96, 64), "blue").save(still)
    said = call(c, "check_start_image", handle_file(str(still)))[1]
    assert said == "✓ sky.png: a 96x64 image; Save shot keeps it", said
    assert list(uploads.rglob("sky.png"))  # kept for Save
    # clips (Fill frames) are checked as they upload too (test_fill_inpaint_and_uploads: size and decoding);
    # a file of another type Gradio itself refuses, saying the types allowed
    pid = call(c, "create_project", "Uploads")[0]
    with pytest.raises(Exception, match=r"Invalid file type.*'\.mp4', '\.mov'"):
        call(c, "upload_clip", pid, handle_file(str(junk)))
    assert not demo.studio.store.takes(pid)


def test_sound_footage_and_audio_tracks_through_the_api(server, tmp_path):
    """Issue 32: a clip's sound is kept (or, broken, left out and said), a sound-only file is pointed at the
    audio tracks; a music file becomes a track, is set and refused by the same checks, and the export mixes it."""
    from conftest import broken_audio_clip
    from gradio_client import handle_file
    from soundclips import click_flash_clip, click_pcm, click_times, flash_times, write_sound

    from engine.video import audio, media

    demo, c, root = server
    store = demo.studio.store
    pid = call(c, "create_project", "Sound")[0]
    out = call(c, "upload_clip", pid, handle_file(str(click_flash_clip(tmp_path / "cam.mp4", flashes=(0.5,)))))
    assert "with its sound (kept under its frames)" in msg(out), msg(out)
    assert audio.read_sound(store.path(store.take(out[0])["path"])) is not None
    # a fill of it keeps the sound under the same frames, the filled ones included
    assert "queued" in call(c, "fill", pid, out[0], "3-4", "", None, "Interpolate only")
    call(c, "watch_queue", pid, None)
    fixed = call(c, "apply_fix", pid, out[0], call(c, "load_take", pid, out[0])[6])[0]
    path = store.path(store.take(fixed)["path"])
    [seen], [heard] = flash_times(media.read_video(path)), click_times(audio.read_sound(path))
    assert abs(seen - heard) < 1 / 24 and store.take(fixed)["settings"]["sound"] == "camera"
    said = msg(call(c, "upload_clip", pid, handle_file(str(broken_audio_clip(tmp_path / "broken.mp4")))))
    assert "its sound cannot be decoded" in said and "picture is kept without sound" in said, said
    voice = write_sound(tmp_path / "voice.m4a", click_pcm(0.5, 16000, 1, tone=0.3), 16000, "aac")
    only = tmp_path / "voice.mp4"
    only.write_bytes(voice.read_bytes())
    assert "holds sound only, no picture; add it on the Timeline as an audio track" in msg(
        call(c, "upload_clip", pid, handle_file(str(only))))
    call(c, "use_clip", pid, out[0])
    # its speed on the timeline: 0.5x slow motion with its sound stretched, shown and kept; 5x refused
    [entry] = [e["id"] for e in store.timeline(pid)]
    said = msg(call(c, "set_clip_speed", pid, entry, 0.5, "stretch"))
    assert "0.5x slow motion (frames interpolated); sound time-stretched" in said, said
    assert "a clip's speed is from 0.25x" in msg(call(c, "set_clip_speed", pid, entry, 5, "keep"))
    assert list(call(c, "select_clip", entry)[4:6]) == [0.5, "stretch"]
    assert json.loads(call(c, "timeline", pid)[3])["clips"][0]["speed"] == "0.5x stretch"
    # a music track: added, chosen, set, refused when out of range (nothing changed), removed
    song = write_sound(tmp_path / "song.wav", click_pcm(1.0, 44100, 2, tone=0.4), 44100)
    added = call(c, "add_audio_track", pid, handle_file(str(song)))
    tid = added[0]
    assert "added song.wav (1.00 s, pcm_s16le 44100 Hz, 2 ch)" in msg(added), msg(added)
    assert call(c, "audio_tracks", pid)[0] == tid and call(c, "select_audio_track", pid, tid)[1] == 0
    set_ = call(c, "set_audio_track", pid, tid, 0.5, 0.25, 0, -6, 0.1, 0.1)
    assert "song.wav: starts at 0.5 s, plays 0.75 s at -6 dB" in msg(set_)
    assert "a track's level is -60 to +12 dB" in msg(call(c, "set_audio_track", pid, tid, 0.5, 0.25, 0, 40, 0, 0))
    assert store.audio_track(tid)["gain_db"] == -6
    track = json.loads(call(c, "timeline", pid)[3])
    assert track["audio"][0]["track"] == tid and track["audio"][0]["wave"] and track["clips"][0]["wave"]
    files, m = call(c, "export", pid, "24", ["MP4"])
    mp4 = Path(files[0]["path"] if isinstance(files[0], dict) else files[0])
    sources = json.loads(next((store.root / "media" / pid / "exports").glob("*/cut.mp4.json")).read_text())
    sources = sources["audio"]["sources"]
    assert [x["kind"] for x in sources] == ["camera", "file"] and audio.read_sound(mp4) is not None
    assert sources[0]["speed"] == 0.5 and len(media.read_video(mp4)) == 95  # 48 frames at half speed
    assert "removed song.wav" in msg(call(c, "remove_audio_track", pid, tid)) and not store.audio_tracks(pid)
    assert "⚠️" in msg(call(c, "remove_audio_track", pid, tid))


def test_every_public_event_was_called(server):
    demo, c, root = server
    api = c.view_api(return_format="dict", print_info=False)
    names = {n.strip("/") for n in api["named_endpoints"]}
    assert names - CALLED == set()


def test_a_model_with_a_prompt_reader_says_how_it_read_the_shot(server):
    """A world model that ships a prompt reader (engine.world.reading) is given the prompt in its training
    wording: the message says how it was read, and the take's settings keep both."""
    from engine.families.pipeline import BUNDLED_MODEL

    demo, c, root = server
    folder = root / "models" / "reading"
    shutil.copytree(demo.studio.engines.default, folder)
    shutil.copytree(BUNDLED_MODEL / "reader", folder / "reader")
    assert "added" in msg(call(c, "add_model", str(folder)))
    pid = call(c, "create_project", "Read")[0]
    sid = call(c, "add_shot", pid)[1]
    prompt = "one petite sapphire sphere lifts upwards out at sea"
    editor = [prompt, "", 1.0, "1:1", 0, "", 1, 2, 5.0, None, None]
    queued = msg(call(c, "render_shot", pid, sid, "reading", *editor))
    assert 'read as: "A small blue ball rises' in queued, queued
    demo.studio.queue.wait(120)
    take = demo.studio.store.takes(pid)[-1]
    settings = take["settings"] if isinstance(take["settings"], dict) else __import__("json").loads(take["settings"])
    assert settings["prompt"] == prompt and settings["read_as"].startswith("A small blue ball rises")
