"""The studio's project store, render queue and export, without the page."""
import re
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError


@pytest.fixture()
def studio(tiny_model, tmp_path):
    from studio.app import make_studio

    s = make_studio(model=str(tiny_model), projects=tmp_path / "projects", config_dir=tmp_path / "config",
                    dtype="float32")
    yield s
    s.queue.wait(120)
    s.store.close()


def _shot(s, pid, prompt="a red ball rolls to the right", **kw):
    return s.store.add_shot(pid, prompt=prompt, seconds=1.0, aspect="1:1", steps=2, **kw)


def test_store_round_trip_and_duplicate(studio, tmp_path):
    st = studio.store
    pid = st.create_project("Desert")
    _, b = _shot(studio, pid, "one"), _shot(studio, pid, "two")
    st.move_shot(b, -1)
    assert [s["prompt"] for s in st.shots(pid)] == ["two", "one"]
    st.rename_project(pid, "Dunes")
    dup = st.duplicate_project(pid)
    assert st.project(dup)["name"] == "Dunes (copy)"
    assert [s["prompt"] for s in st.shots(dup)] == ["two", "one"]
    st.delete_project(dup)
    assert [p["id"] for p in st.projects()] == [pid]
    with pytest.raises(InputError):
        st.create_project("   ")
    with pytest.raises(InputError):
        st.inside(tmp_path / "elsewhere.txt")
    # WAL mode, and nothing outside the projects folder
    assert st._q("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    assert sorted(p.name for p in (tmp_path / "projects").iterdir()) >= ["media", "studio.db"]


def test_duplicate_project_names_are_refused_or_numbered_and_said(studio):
    """Issue 31: a second project under a name already in use was a look-alike, empty project. Names that differ
    only in case, spacing or Unicode form are the same name."""
    from studio.panels.projects import open_example

    st = studio.store
    pid = st.create_project("Desert")
    for same in ("Desert", "  desert ", "DESERT", "Desert\u00a0"):
        with pytest.raises(InputError, match="a project named “Desert” already exists; pick it in the Project list "
                                             "or give this one another name"):
            st.create_project(same)
    other = st.create_project("Dunes")
    with pytest.raises(InputError, match="“Desert” already exists"):
        st.rename_project(other, "desert")
    st.rename_project(pid, "DESERT")  # a project may take its own name in another case
    assert [p["name"] for p in st.projects()].count("DESERT") == 1
    # copies and the example are numbered instead, and keep within the length limit
    assert [st.project(st.duplicate_project(pid))["name"] for _ in range(3)] == \
        ["DESERT (copy)", "DESERT (copy 2)", "DESERT (copy 3)"]
    with pytest.raises(InputError, match="already exists"):
        st.duplicate_project(pid, "Dunes")
    first, second = open_example(studio), open_example(studio)
    assert st.project(second)["name"] == st.project(first)["name"] + " (2)"
    st.rename_project(other, "x" * 120)
    assert st.project(st.duplicate_project(other))["name"] == "x" * 113 + " (copy)"
    assert st.project(st.duplicate_project(other))["name"] == "x" * 111 + " (copy 2)"
    assert len({st.project(p["id"])["name"].casefold() for p in st.projects()}) == len(st.projects())


def test_queue_renders_takes_and_exports(studio, tmp_path):
    import opentimelineio as otio

    from engine.provenance import read_manifest, trust_anchors_pem
    from engine.video import media
    from studio import export

    st, q = studio.store, studio.queue
    pid = st.create_project("Cut")
    shots = [_shot(studio, pid, p) for p in ("a red ball rolls right", "a blue cube falls", "a green star spins")]
    jobs = [q.submit(pid, "shot", {"shot_id": s, "seed": i}) for i, s in enumerate(shots)]
    assert all(st.job(j)["status"] in ("waiting", "running", "done") for j in jobs)
    q.wait(120)
    assert [st.job(j)["status"] for j in jobs] == ["done"] * 3, [st.job(j)["error"] for j in jobs]
    takes = [st.take(st.job(j)["result"][0]) for j in jobs]
    entries = [st.promote(t["id"]) for t in takes]
    st.move_entry(entries[2], -2)
    st.update_entry(entries[1], transition="crossfade", transition_seconds=0.25)
    out = export.export(st, pid, 24.0, ["MP4", "OTIO", "EDL", "FCP XML", "PNG sequence"], tmp_path / "config")
    clips = export.timeline_clips(st, pid, 24.0)
    frames, rec = export.assemble(clips, 24.0)
    v = media.read_video(out["MP4"])
    assert len(v) == len(frames) == rec.frame_count and abs(v.fps - 24) < 1e-3
    assert "T" in rec.strip()
    tl = otio.adapters.read_from_file(out["OTIO"])
    got = [c.metadata["tenku"]["prompt"] for c in tl.find_clips()]
    assert got == ["a green star spins", "a red ball rolls right", "a blue cube falls"]
    assert len(list(tl.tracks[0].find_children(descended_from_type=otio.schema.Transition))) == 1
    assert tl.duration().to_frames() == len(frames)
    edl = open(out["EDL"]).read()
    assert edl.count(" D ") == 1 or " D    " in edl
    assert "<xmeml" in open(out["FCP XML"]).read()
    assert len(media.list_frame_files(out["PNG sequence"])) == len(frames)
    report = read_manifest(out["MP4"], trust_anchors_pem(tmp_path / "config"))
    assert report.intact
    # a duplicate is a whole, independent project: its cut exports the same frames
    dup = st.duplicate_project(pid)
    assert all(st.path(t["path"]).is_file() and t["project_id"] == dup for t in st.takes(dup))
    assert {e["take_id"] for e in st.timeline(dup)} <= {t["id"] for t in st.takes(dup)}
    st.delete_project(pid)
    assert len(export.assemble(export.timeline_clips(st, dup, 24.0), 24.0)[0]) == len(frames)


def test_stop_keeps_partial_and_restart_recovers(studio, tiny_model, tmp_path):
    from studio.app import make_studio

    st, q = studio.store, studio.queue
    pid = st.create_project("Stop")
    sid = st.add_shot(pid, prompt="a red ball", seconds=3.0, steps=40)
    jid = q.submit(pid, "shot", {"shot_id": sid})
    t0 = time.time()
    while st.job(jid)["status"] != "running" or not q.live.get(jid, {}).get("progress"):
        assert time.time() - t0 < 60
        time.sleep(0.02)
    q.stop(jid)
    q.wait(60)
    job = st.job(jid)
    assert job["status"] == "stopped", job
    take = st.take(job["result"][0])
    assert take["cancelled"] and take["frames"] > 0
    # a job left running by a crash comes back as waiting (once), then failed
    crashed = st.add_job(pid, "shot", {"shot_id": sid})
    st.update_job(crashed, status="running", attempts=1)
    twice = st.add_job(pid, "shot", {"shot_id": sid})
    st.update_job(twice, status="running", attempts=2)
    s2 = make_studio(model=str(tiny_model), projects=tmp_path / "projects", config_dir=tmp_path / "config",
                     dtype="float32", start=False)
    assert s2.store.job(crashed)["status"] == "waiting"
    assert s2.store.job(twice)["status"] == "failed" and "interrupted" in s2.store.job(twice)["error"]
    assert s2.store.project(pid)["name"] == "Stop"
    s2.queue.stop(crashed)
    s2.store.close()


def test_example_project_opens_and_animates_its_still(studio):
    from studio.panels.projects import open_example

    st = studio.store
    pid = open_example(studio)
    shots = st.shots(pid)
    assert len(shots) == 3 and shots[0]["start_image"] and st.path(shots[0]["start_image"]).is_file()
    st.update_shot(shots[0]["id"], steps=2, seconds=1.0)
    jid = studio.queue.submit(pid, "shot", {"shot_id": shots[0]["id"]})
    studio.queue.wait(120)
    job = st.job(jid)
    assert job["status"] == "done", job["error"]
    take = st.take(job["result"][0])
    assert take["kind"] == "animate" and take["settings"]["conditions"][0]["type"] == "image"


def test_a_job_that_cannot_run_fails_with_its_reason(tmp_path):
    from studio.app import make_studio

    s = make_studio(model=str(tmp_path / "no-such-model"), projects=tmp_path / "p", config_dir=tmp_path / "c",
                    dtype="float32")
    pid = s.store.create_project("Broken")
    sid = _shot(s, pid)
    jid = s.queue.submit(pid, "shot", {"shot_id": sid})
    s.queue.wait(60)
    job = s.store.job(jid)
    assert job["status"] == "failed" and "does not exist" in job["error"]
    # a job that fails by a bug says what failed in one line, and names no server path
    from studio.queue import unexpected

    bug = FileNotFoundError(2, "No such file or directory", str(s.store.root / "media" / "x.mp4"))
    line = unexpected(bug, s.store.root)
    assert line.startswith("failed unexpectedly (FileNotFoundError") and str(tmp_path) not in line
    assert "<projects>/media/x.mp4" in line and "\n" not in unexpected(RuntimeError("a\nb"), s.store.root)
    s.store.close()


def test_edit_lists_reference_real_source_frames_as_handles(studio, tmp_path):
    """Trims point into the take's own frames; handles are frames the take really has, clipped, never held."""
    import opentimelineio as otio

    from engine.video import media
    from studio import export

    st, q = studio.store, studio.queue
    pid = st.create_project("Handles")
    jobs = [q.submit(pid, "shot", {"shot_id": _shot(studio, pid, p), "seed": i})
            for i, p in enumerate(("a red ball rolls right", "a blue cube falls"))]
    q.wait(120)
    entries = [st.promote(st.job(j)["result"][0]) for j in jobs]
    st.update_entry(entries[0], trim_out=2)
    st.update_entry(entries[1], trim_in=3, trim_out=1, transition="crossfade", transition_seconds=0.25)
    out = export.export(st, pid, 24.0, ["OTIO", "EDL", "FCP XML"], tmp_path / "config")
    clips = export.timeline_clips(st, pid, 24.0)
    frames, _ = export.assemble(clips, 24.0)
    tl = otio.adapters.read_from_file(out["OTIO"])
    assert tl.duration().to_frames() == len(frames)
    got = list(tl.find_clips())
    handle = int(round(export.HANDLE_SECONDS * 24))
    for c, o in zip(clips, got):
        avail, src = o.media_reference.available_range, o.source_range
        lo, hi = max(0, c.start - handle), min(len(c.frames), c.stop + handle)
        written = media.read_video(o.media_reference.target_url.removeprefix("file://"))
        # the media file is exactly the take's frames lo..hi: no held frames beyond what the take has
        assert len(written) == avail.duration.to_frames() == hi - lo
        diff = np.abs(written.frames.astype(int) - c.frames[lo:hi].astype(int)).mean(axis=(1, 2, 3))
        assert diff.max() < 12, diff
        assert avail.start_time.to_frames() == 0
        assert 0 <= src.start_time.to_frames() and src.end_time_exclusive().to_frames() <= hi - lo
    # clip 1 has no frames before its trim, clip 2 has 9 (3 base frames at 8 -> 24 fps)
    assert got[0].source_range.start_time.to_frames() == 0 and clips[0].start == 0
    assert clips[0].stop == len(clips[0].frames) - 6
    assert got[0].media_reference.available_range.duration.to_frames() == len(clips[0].frames)  # 6 real frames after
    assert clips[1].start == 9 and len(clips[1].frames) - clips[1].stop == 3
    # the dissolve's media lies inside both clips' files
    tr = tl.tracks[0].find_children(descended_from_type=otio.schema.Transition)[0]
    assert (got[0].source_range.end_time_exclusive() + tr.out_offset).to_frames() <= \
        got[0].media_reference.available_range.duration.to_frames()
    assert (got[1].source_range.start_time - tr.in_offset).to_frames() >= 0
    assert (tr.in_offset + tr.out_offset).to_frames() == clips[1].overlap
    # EDL and FCP XML (what an editor reads): the same media lengths, every source range inside its file
    lengths = {Path(c.media_reference.target_url).name: c.media_reference.available_range.duration.to_frames()
               for c in got}
    xml = otio.adapters.read_from_file(out["FCP XML"])
    assert xml.duration().to_frames() == len(frames)
    for c in xml.find_clips():
        n = lengths[Path(c.media_reference.target_url).name]
        assert c.media_reference.available_range.duration.to_frames() == n
        assert 0 <= c.source_range.start_time.to_frames() and c.source_range.end_time_exclusive().to_frames() <= n
    edl = otio.adapters.read_from_file(out["EDL"], rate=24)
    assert edl.duration().to_frames() == len(frames)
    ends = [(Path(c.name).name, c.source_range.end_time_exclusive().to_frames()) for c in edl.find_clips()]
    assert ends and all(end <= max(lengths.values()) for _, end in ends)


def test_choosing_a_take_replaces_its_shots_clip_in_place(studio):
    st = studio.store
    pid = st.create_project("Choose")
    a, b = _shot(studio, pid, "one"), _shot(studio, pid, "two")
    take = lambda sid, n: st.add_take(pid, sid, st.root / "media" / pid / "x.mp4", "generate", {}, {}, n, 8.0)  # noqa: E731
    a1, a2, b1, b2 = take(a, 16), take(a, 4), take(b, 16), take(b, 16)
    assert st.choose_take(a1)[1] is None and st.choose_take(b1)[1] is None  # first choice: appended
    e1, e2 = (e["id"] for e in st.timeline(pid))
    st.update_entry(e1, trim_in=2, trim_out=3)
    st.update_entry(e2, trim_in=1, transition="bridge", bridge_take_id=a1)
    assert st.choose_take(a2) == (e1, a1)  # replaced in place; the trim no longer fits 4 frames; bridge out reset
    assert [(e["take_id"], e["trim_in"], e["trim_out"]) for e in st.timeline(pid)] == [(a2, 0, 0), (b1, 1, 0)]
    assert st.entry(e2)["transition"] == "cut" and st.entry(e2)["bridge_take_id"] is None
    assert st.choose_take(b2) == (e2, b1) and st.entry(e2)["trim_in"] == 1  # the trim still fits: kept
    assert st.choose_take(b2) == (e2, None)  # already chosen: nothing changes
    assert len(st.timeline(pid)) == 2


def test_cast_is_added_to_an_older_projects_folder_without_losing_data(tmp_path):
    """A studio.db made before the cast existed opens with every row intact, and gains a cast per project."""
    import sqlite3

    from studio.project import SCHEMA, Store

    root = tmp_path / "old"
    root.mkdir()
    old = ";\n".join(part for part in SCHEMA.split(";\n") if "cast_members" not in part)
    db = sqlite3.connect(root / "studio.db")
    db.executescript(old)
    db.execute("INSERT INTO projects VALUES ('pold', 'Old film', 1, 1, '{}')")
    db.execute("INSERT INTO shots (id, project_id, position, prompt) VALUES ('sold', 'pold', 0, 'a red ball')")
    db.commit()
    db.close()
    st = Store(root)
    assert st.project("pold")["name"] == "Old film" and st.shots("pold")[0]["prompt"] == "a red ball"
    assert st._q("PRAGMA user_version")[0]["user_version"] >= 2
    assert st.cast("pold") == {}
    assert st.set_member("pold", "ball", "the big  red ball") is True
    assert st.set_member("pold", "ball", "the big red ball") is False  # a new description, not a second member
    st.set_member("pold", "box", "a small blue box")
    assert st.cast("pold") == {"ball": "the big red ball", "box": "a small blue box"}
    for bad in (("", "x"), ("{ball}", "x"), ("ball", "  ")):
        with pytest.raises(InputError):
            st.set_member("pold", *bad)
    dup = st.duplicate_project("pold")
    st.remove_member("pold", "ball")
    assert st.cast("pold") == {"box": "a small blue box"}
    assert st.cast(dup) == {"ball": "the big red ball", "box": "a small blue box"}
    st.close()
    assert Store(root).cast(dup)["ball"] == "the big red ball"  # reopening changes nothing


def test_long_shot_streams_windows_stops_and_resumes(studio, tmp_path):
    """A shot longer than one window renders through engine.longtake: every window's partial file is
    announced (the card plays it), Stop keeps the finished windows as a partial take and the checkpoint,
    and rendering the same shot again resumes and ends with the uninterrupted render's frames."""
    from engine.provenance import read_manifest, trust_anchors_pem
    from engine.sampling.sampler import Cancelled
    from engine.video import media
    from studio.jobs import run_job

    st = studio.store
    pid = st.create_project("Long")
    sid = st.add_shot(pid, prompt="a red ball rolls to the right", seconds=5.0, aspect="1:1", steps=2)
    engine = studio.engines()
    job = {"project_id": pid, "kind": "shot", "params": {"shot_id": sid, "seed": 0}}

    def progress_fn(stop_after=None):
        notes = []

        def progress(fraction, stage, info=None):
            if stop_after is not None and any((n.get("partial") or {}).get("window", 0) >= stop_after
                                              for n in notes):
                raise Cancelled(getattr(info, "denoised", None))
        progress.note = lambda **kw: notes.append({**kw, "exists": Path(kw["partial"]["path"]).stat().st_size
                                                   if kw.get("partial") else None})
        return progress, notes

    progress, notes = progress_fn()
    (full,), cancelled = run_job(st, engine, job, progress, config_dir=tmp_path / "config")
    windows = [n["partial"] for n in notes if n.get("partial")]
    total = windows[0]["windows"]
    assert not cancelled and total >= 3
    assert [w["window"] for w in windows] == list(range(1, total + 1))
    assert all(n["exists"] > 0 for n in notes if n.get("partial"))  # the growing file is there at each window
    assert [n["stage"] for n in notes if "stage" in n][:2] == ["window 1/%d" % total, "window 2/%d" % total]
    take = st.take(full)
    assert take["frames"] == 40 and not take["cancelled"] and take["settings"]["windows"] == total
    path = st.path(take["path"])
    assert Path(f"{path}.json").is_file() and len(media.read_video(path)) == 40
    assert read_manifest(str(path), trust_anchors_pem(tmp_path / "config")).intact
    assert not list(st.media(pid, "longtakes").iterdir())  # finished: no checkpoint, no partial file left
    # Stop after the first window: a partial take of that window, the checkpoint kept for a resume
    progress, notes = progress_fn(stop_after=1)
    (part,), cancelled = run_job(st, engine, job, progress, config_dir=tmp_path / "config")
    partial = st.take(part)
    assert cancelled and partial["cancelled"] and 0 < partial["frames"] < 40
    assert partial["settings"]["windows_done"] == 1
    assert any(p.name.endswith(".render") for p in st.media(pid, "longtakes").iterdir())
    progress, notes = progress_fn()
    (resumed,), cancelled = run_job(st, engine, job, progress, config_dir=tmp_path / "config")
    again = st.take(resumed)
    assert not cancelled and again["settings"]["resumed_from_window"] == 1 and again["frames"] == 40
    assert [n["partial"]["window"] for n in notes if n.get("partial")] == list(range(2, total + 1))
    a, b = media.read_video(path).frames, media.read_video(st.path(again["path"])).frames
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0
    # Stopped again and the shot deleted: its checkpoint and partial file go, its takes stay
    progress, notes = progress_fn(stop_after=1)
    run_job(st, engine, job, progress, config_dir=tmp_path / "config")
    assert list(st.media(pid, "longtakes").iterdir())
    st.delete_shot(sid)
    assert not list(st.media(pid, "longtakes").iterdir())
    assert st.take(resumed)["frames"] == 40


def test_footage_keeps_the_uploaded_files_timecode_in_the_edit_lists(tmp_path):
    """A trimmed camera clip's source timecodes are the uploaded file's own time, and its media file starts at
    the timecode of its first frame in the upload, so relinking to the camera original lands on the same frames."""
    import av
    import opentimelineio as otio

    from engine.provenance import FrameRange, ProvenanceRecord
    from studio import export

    src_fps, n = 25.0, 75  # a 3-second upload at 25 fps
    frames = np.zeros((n, 32, 32, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(n)[:, None, None]
    rec = ProvenanceRecord.camera(n, "beach.mp4", src_fps)
    take = {"id": "tcam", "shot_id": None, "kind": "camera", "fps": src_fps,
            "settings": {"prompt": "", "source_file": "beach.mp4", "fps": src_fps}}
    delivered, drec = export.retime(frames, rec, src_fps, 24.0)
    clip = export.Clip("clip 1", take, delivered, drec, start=48, stop=60)  # 2.0 s .. 2.5 s of the upload
    assert export.source_offset(clip, 24, 24.0) == 24  # media from 1.0 s (a one-second handle)
    tl = export.edit_list([clip], 24.0, "tc", tmp_path)
    export.write_edit_lists(tl, tmp_path, ["EDL"])
    event = next(line for line in (tmp_path / "cut.edl").read_text().splitlines() if line[:3].isdigit()).split()
    assert event[1] == "BEACH" and event[4:6] == ["00:00:02:00", "00:00:02:12"], event  # source in and out
    otio.adapters.write_to_file(tl, str(tmp_path / "cut.xml"), adapter_name="fcp_xml")
    xml_clip = otio.adapters.read_from_file(str(tmp_path / "cut.xml")).find_clips()[0]
    assert xml_clip.source_range.start_time.to_frames() == 48 and xml_clip.duration().to_frames() == 12
    media_file = next((tmp_path / "media").glob("*.mp4"))
    with av.open(str(media_file)) as f:
        assert f.streams.video[0].metadata.get("timecode") == "00:00:01:00"
    # footage whose first five frames were made before the upload's start (a backward extension): a media file
    # from its frame 0 would start before the file, so it counts from 0; from frame 7 it is the file's frame 2
    before = ProvenanceRecord([FrameRange(0, 5, "interpolated"),
                               FrameRange(5, 20, "camera", source="beach.mp4", source_start=0)], 24.0)
    back = export.Clip("clip 2", {**take, "fps": 24.0}, np.zeros((20, 32, 32, 3), np.uint8), before, 0, 20)
    assert export.source_offset(back, 0, 24.0) == 0 and export.source_offset(back, 7, 24.0) == 2
    assert export.timecode(24 * 3661 + 5, 24000 / 1001) == "01:01:01:05"


REEL = re.compile(r"[A-Z0-9_]{1,8}")
TIMECODE = re.compile(r"\d\d:\d\d:\d\d:\d\d")


def strict_edl_events(text: str) -> list[dict]:
    """Every line of an EDL is a title, a frame-count mode, a comment or a CMX 3600 event line, column for column:
    the event number (3 digits), two spaces, the reel in columns 6-13 (at most 8 of A-Z, 0-9 and _), a space,
    the track, the transition (C, or D and its length in frames), then source in and out, record in and out.
    Returns the event lines, parsed; anything else fails."""
    events = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith(("TITLE: ", "FCM: ", "*", "M2 ")):
            continue
        what = f"line {i} is not a CMX 3600 event line: {line!r}"
        assert line[:3].isdigit() and line[3:5] == "  " and line[13:14] == " ", what
        reel, rest = line[5:13].rstrip(), line[14:].split()
        assert REEL.fullmatch(reel) and line[5:5 + len(reel)] == reel, what
        track, how, times = rest[0], rest[1:-4], rest[-4:]
        assert track in ("V", "A", "A2", "B", "AA", "AA/V", "A/V"), what
        assert how == ["C"] or (len(how) == 2 and how[0] == "D" and how[1].isdigit()), what
        assert all(TIMECODE.fullmatch(t) for t in times), what
        events.append({"num": int(line[:3]), "reel": reel, "how": " ".join(how), "times": times})
    return events


def test_edl_reel_names_fit_cmx_3600(tmp_path):
    """Issue 31: reels ran past CMX 3600's 8 characters (the uploaded file's whole name, or the media file's).
    Reels are at most 8 of A-Z, 0-9 and _, one per source (the uploaded file, else the take), different sources
    never share one, and no reel reads as black or bars. A strict parser and opentimelineio's reader accept it."""
    import opentimelineio as otio

    from engine.provenance import Generation, ProvenanceRecord
    from studio import export

    n, fps = 16, 24.0
    frames = np.zeros((n, 32, 32, 3), np.uint8)

    def clip(number, take_id, source=""):
        rec = ProvenanceRecord.camera(n, source, fps) if source else \
            ProvenanceRecord.generated(n, Generation("tiny", "a ball", 0), fps)
        take = {"id": take_id, "shot_id": None if source else "s1", "kind": "camera" if source else "generate",
                "fps": fps, "settings": {"prompt": "", "source_file": source} if source else {"prompt": "a ball"}}
        return export.Clip(f"clip {number}", take, frames, rec, start=4, stop=12)

    clips = [clip(1, "tcam0000001", "carphone_pristine.mp4"), clip(2, "tfix0000002", "carphone_pristine.mp4"),
             clip(3, "tcam0000003", "carphone_pristine (2).mp4"), clip(4, "tcam0000004", "black.mp4"),
             clip(5, "tcam0000005", "été à la plage.mov"), clip(6, "t0123456789"), clip(7, "t01234567ab"),
             clip(8, "tcam0000008", "---.mp4")]
    clips[6].transition, clips[6].overlap = "crossfade", 4
    tl = export.edit_list(clips, fps, "Reels", tmp_path)
    out = export.write_edit_lists(tl, tmp_path, ["EDL"])
    text = Path(out["EDL"]).read_text()
    events = strict_edl_events(text)
    want = ["CARPHONE", "CARPHONE", "CARPHO_2", "BLACK_2", "ETE_A_LA", "T0123456", "T0123456", "T01234_2", "REEL"]
    # the crossfade is two event lines: the outgoing clip's last frame (its reel), then the dissolve into clip 7
    assert [e["reel"] for e in events] == want, text
    assert [e["how"] for e in events].count("D 004") == 1, text
    # the same clips, their reels and lengths read back by opentimelineio's CMX 3600 reader
    back = otio.adapters.read_from_file(out["EDL"], adapter_name="cmx_3600", rate=fps)
    reels = [c.metadata["cmx_3600"]["reel"] for c in back.find_clips()]
    assert reels == want[:6] + want[7:], reels
    assert back.duration() == tl.duration()
    # the uploaded file's name is still in the list, for an editor to relink by
    assert "* FROM CLIP NAME:  clip 1 carphone_pristine.mp4" in text


def test_a_saved_shot_shows_its_plan_as_an_animatic_and_replans_by_seed(tiny_model, tmp_path):
    """A model with a prompt reader plans every saved shot: its card plays the animatic (the planned boxes, no
    render), drawn once and kept in the project; Re-plan moves the shot to the next seed and a new plan."""
    import shutil

    from engine.families.pipeline import BUNDLED_MODEL
    from engine.video import media
    from studio.animatic import animatic
    from studio.app import make_studio
    from studio.panels.storyboard import cards_html

    model = tmp_path / "tiny-reader"
    shutil.copytree(tiny_model, model)
    shutil.copytree(BUNDLED_MODEL / "reader", model / "reader")
    s = make_studio(model=str(model), projects=tmp_path / "projects", config_dir=tmp_path / "config", dtype="float32")
    pid = s.store.create_project("Plans")
    sid = s.store.add_shot(pid, prompt="a big blue box moves left on a sandy desert", seconds=2.0, aspect="16:9",
                           seed=3)
    t0 = time.time()
    rel, planned = animatic(s, pid, s.store.shot(sid))
    assert time.time() - t0 < 30  # the first plan loads the reader; drawing itself is a fraction of a second
    assert planned.startswith("big blue box, left") and "desert" in planned
    video = media.read_video(str(s.store.path(rel)))
    assert video.frames.shape[1:3] == (144, 256) and len(video) == 24
    blue = np.array([0x28, 0x50, 0xDC])
    xs = [np.nonzero((np.abs(f.astype(int) - blue).sum(-1) < 60).any(0))[0].mean() for f in video.frames[[0, -1]]]
    assert xs[1] < xs[0] - 60  # the box moves left in the animatic, as planned
    t0 = time.time()
    assert animatic(s, pid, s.store.shot(sid))[0] == rel and time.time() - t0 < 0.5  # kept, not drawn again
    html = cards_html(s, pid, sid)
    assert "Plan (animatic)" in html and "data-act='replan'" in html and rel.split("/")[-1] in html
    s.store.update_shot(sid, seed=4)
    again, _ = animatic(s, pid, s.store.shot(sid))
    assert again != rel and not s.store.path(rel).exists()  # one animatic per shot: the plan it has now
    s.store.update_shot(sid, prompt="something moody and vague")
    assert animatic(s, pid, s.store.shot(sid)) is None  # no object to place: no animatic, the card says nothing


def test_directed_motion_is_saved_with_its_shot_drawn_in_its_animatic_and_follows_edits(tiny_model, tmp_path):
    """The motion panel's save (studio.panels.motion.save_motion): checked, kept with the shot, played by its card's
    animatic; editing the shot keeps the drawn path (a new colour, a new duration) until its objects change."""
    import json
    import shutil

    from engine.families.pipeline import BUNDLED_MODEL
    from engine.video import media
    from studio.animatic import animatic, keep_motion
    from studio.app import make_studio
    from studio.panels.motion import editor_state, save_motion

    model = tmp_path / "tiny-reader"
    shutil.copytree(tiny_model, model)
    shutil.copytree(BUNDLED_MODEL / "reader", model / "reader")
    s = make_studio(model=str(model), projects=tmp_path / "projects", config_dir=tmp_path / "config", dtype="float32")
    pid = s.store.create_project("Directed")
    sid = s.store.add_shot(pid, prompt="a big blue box moves left on a sandy desert", seconds=2.0, aspect="16:9")
    state = json.loads(editor_state(s, pid, sid)[0])
    assert not state["directed"] and state["motion"]["objects"][0]["colour"] == "blue"
    motion = state["motion"]
    motion["objects"][0]["points"] = [[0.2, 0.5], [0.8, 0.5]]  # dragged: now it goes right
    assert save_motion(s, pid, sid, motion).startswith("big blue box, right")
    assert json.loads(s.store.shot(sid)["motion"]) == motion and json.loads(editor_state(s, pid, sid)[0])["directed"]
    rel, _ = animatic(s, pid, s.store.shot(sid))
    frames = media.read_video(str(s.store.path(rel))).frames
    blue = np.array([0x28, 0x50, 0xDC])
    xs = [np.nonzero((np.abs(f.astype(int) - blue).sum(-1) < 60).any(0))[0].mean() for f in frames[[0, -1]]]
    assert xs[1] > xs[0] + 60  # the animatic plays the directed path, not the plan
    bad = {**motion, "objects": [{**motion["objects"][0], "points": [[0.2, 0.5]]}]}
    with pytest.raises(InputError, match="at least two points"):
        save_motion(s, pid, sid, bad)
    assert json.loads(s.store.shot(sid)["motion"]) == motion  # nothing saved half-done
    # a new colour and a longer shot: the path stays, its colour and times follow
    old = s.store.shot(sid)
    s.store.update_shot(sid, prompt="a big red box moves left on a sandy desert", seconds=4.0)
    keep_motion(s, pid, old, s.store.shot(sid))
    kept = json.loads(s.store.shot(sid)["motion"])["objects"][0]
    assert (kept["colour"], kept["points"], kept["end"]) == ("red", [[0.2, 0.5], [0.8, 0.5]], 4.0)
    # two objects now: the drawn path no longer fits, the plan takes over
    old = s.store.shot(sid)
    s.store.update_shot(sid, prompt="a big red box moves left and a small green ball falls down")
    keep_motion(s, pid, old, s.store.shot(sid))
    assert s.store.shot(sid)["motion"] is None


def test_a_world_model_refuses_camera_footage_in_the_pages_words(tiny_model):
    """Extending, remixing or bridging an uploaded camera clip with a world model is refused, said as the page
    says it (pick a real checkpoint under Model); a take the model made itself is its own to extend."""
    from engine.provenance import Generation, ProvenanceRecord
    from engine.service import Engine
    from engine.video.media import Video
    from studio.jobs import call_verb

    engine = Engine(tiny_model, dtype="float32")
    noise = np.random.default_rng(0).integers(0, 255, (9, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="to extend camera footage, add a real checkpoint .* under Model"):
        call_verb("extend", engine, Video.from_frames(noise, 8.0), seconds=0.5, steps=1)
    made = Video.from_frames(noise, 8.0)
    made.metadata = {"provenance": ProvenanceRecord.uniform("generated", 9, 8.0,
                                                            generation=Generation("tiny", "a red ball", 0))}
    assert len(call_verb("extend", engine, made, seconds=0.5, steps=1).frames) == 13


def test_the_line_moves_cancels_and_keeps_its_order_across_a_restart(tiny_model, tmp_path):
    """Issue 31: waiting jobs move up and down and are cancelled before they start; the line's order is in the
    store, so a restarted studio runs what waits in the order it was left. Until a model is measured a waiting
    job has no time (the page says "estimating..."); measured, each waiting job has a time, starting when the
    one before ends, and a shot with twice the steps is planned at twice the work."""
    from studio.app import make_studio
    from studio.panels.queue import time_text

    kw = dict(model=str(tiny_model), projects=tmp_path / "projects", config_dir=tmp_path / "config",
              dtype="float32", start=False)
    s = make_studio(**kw)
    st, q = s.store, s.queue
    pid = st.create_project("Line")
    sids = [st.add_shot(pid, prompt=p, seconds=1.0, aspect="1:1", steps=8) for p in ("a red ball", "a blue box",
                                                                                      "a green ball", "a red box")]
    a, b, c, d = (st.add_job(pid, "shot", {"shot_id": sid}) for sid in sids)  # saved, not started: no worker
    q.move(d, -1)
    q.move(a, 1)
    assert [j["id"] for j in st.jobs(pid, status="waiting")] == [b, a, d, c]
    with pytest.raises(InputError, match="first in line already"):
        q.move(b, -1)
    q.cancel(d)
    with pytest.raises(InputError, match="only waiting jobs are cancelled"):
        q.cancel(d)
    assert [time_text(j, q.estimates()) for j in (b, a, c)] == ["estimating..."] * 3
    st.close()
    s2 = make_studio(**kw)  # a restart: the line as it was left
    s2.queue.kick()
    s2.queue.wait(120)
    jobs = {j["id"]: j for j in s2.store.jobs(pid)}
    assert sorted((b, a, c), key=lambda j: jobs[j]["started"]) == [b, a, c]
    assert all(jobs[j]["status"] == "done" for j in (b, a, c)), [j["error"] for j in jobs.values()]
    assert jobs[d]["status"] == "cancelled" and jobs[d]["started"] is None and jobs[d]["attempts"] == 0
    assert jobs[d]["result"] == [] and not s2.store.takes(pid, sids[3])
    # measured now: two more waiting jobs (no worker to start them) have times, one after the other
    s2.store.update_shot(sids[1], steps=16)
    e, f = s2.store.add_job(pid, "shot", {"shot_id": sids[0]}), s2.store.add_job(pid, "shot", {"shot_id": sids[1]})
    times = s2.queue.estimates()
    assert times[e]["starts_in"] == 0 and times[f]["starts_in"] == pytest.approx(times[e]["takes"])
    assert times[f]["takes"] == pytest.approx(2 * times[e]["takes"])
    assert re.fullmatch(r"(~\d+:\d\d|<0:01), starts in (~\d+:\d\d|<0:01)", time_text(f, times))
    s2.queue.cancel(e)
    s2.queue.cancel(f)
    s2.store.close()
