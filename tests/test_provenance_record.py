"""engine.provenance.record: per-frame-range provenance and the edits that change it."""
import json

import pytest

from engine.errors import InputError
from engine.provenance import FrameRange, Generation, ProvenanceRecord, check_prompt, concatenate, load_policy

GEN = Generation("tenku-small", "a red ball rolls to the right", seed=7, settings={"steps": 20, "guidance": 4.5})


def camera(n=30, source="cam.mp4", start=0):
    return ProvenanceRecord.camera(n, source, fps=24.0, source_start=start)


def generated(n=16, gen=GEN):
    return ProvenanceRecord.generated(n, gen, fps=24.0)


def test_json_round_trip_keeps_everything():
    rec = concatenate([camera(10), generated(6)]).mark(2, 4, "interpolated", details={"method": "dis-flow"})
    rec.log_decision(check_prompt(GEN.prompt, load_policy()), at="2026-01-01T00:00:00+00:00")
    rec.watermark = {"scheme": "tenku-ss-v1", "key_id": "abc", "strength": 1.25}
    text = rec.to_json()
    back = ProvenanceRecord.from_json(text)
    assert back == rec
    assert json.loads(text)["frame_count"] == 16
    assert back.ranges[-1].generation == GEN


def test_concatenate_offsets_and_views():
    cut = concatenate([camera(5), generated(3), camera(2, "b.mp4")])
    assert cut.frame_count == 10
    assert [(r.start, r.stop, r.kind) for r in cut.ranges] == [(0, 5, "camera"), (5, 8, "generated"), (8, 10, "camera")]
    assert cut.strip() == "CCCCCGGGCC"
    assert cut.per_frame()[5:8] == ["generated"] * 3
    assert cut.model_made_mask() == [False] * 5 + [True] * 3 + [False] * 2
    assert cut.counts() == {"camera": 7, "generated": 3}
    assert cut.range_at(9).source == "b.mp4"


def test_slices_of_one_source_merge_back():
    src = camera(30)
    again = concatenate([src.slice(0, 12), src.slice(12, 30)])
    assert again.ranges == src.ranges
    # Out of order they are different footage and must stay two ranges.
    swapped = concatenate([src.slice(12, 30), src.slice(0, 12)])
    assert len(swapped.ranges) == 2 and swapped.ranges[1].source_start == 0


def test_slice_keeps_source_frame_numbers():
    part = camera(30, start=100).slice(5, 9)
    assert part.frame_count == 4
    assert part.ranges == [FrameRange(0, 4, "camera", source="cam.mp4", source_start=105)]


def test_fill_frames_10_to_17_of_a_camera_clip():
    rec = camera(30).mark(10, 18, "interpolated", details={"method": "dis-flow"})
    assert rec.strip() == "C" * 10 + "I" * 8 + "C" * 12
    before, filled, after = rec.ranges
    assert (filled.start, filled.stop, filled.details) == (10, 18, {"method": "dis-flow"})
    assert after.source_start == 18  # the camera frames after the gap are still source frames 18..29


def test_replace_with_a_different_length_and_insert():
    rec = camera(10).replace(4, 6, generated(5))
    assert rec.strip() == "CCCCGGGGGCCCC"
    assert rec.ranges[-1].source_start == 6
    inserted = camera(4).replace(2, 2, generated(1))
    assert inserted.strip() == "CCGCC"


def test_retime_by_factor_marks_in_betweens_interpolated():
    rec = generated(3).retime_factor(2, details={"method": "flow"})
    assert rec.strip() == "GIGIG"
    assert rec.fps == 48.0
    assert all(r.generation == GEN for r in rec.ranges if r.kind == "generated")
    mixed = concatenate([camera(2), generated(2)]).retime_factor(2)
    assert mixed.strip() == "CICIGIG"
    # between a camera frame and a generated one the source is ambiguous: none is claimed
    assert mixed.ranges[3].kind == "interpolated" and mixed.ranges[3].source is None


def test_retime_to_a_frame_rate():
    rec = ProvenanceRecord.camera(9, "cam.mp4", fps=8.0).retime_fps(24.0)
    assert rec.frame_count == 25 and rec.fps == 24.0
    assert rec.strip() == "CII" * 8 + "C"
    assert rec.range_at(3).source_start == 1  # output frame 3 is source frame 1


def test_model_made_includes_generative_in_betweening():
    rec = camera(4).mark(1, 3, "interpolated", generation=GEN)
    assert rec.model_made_mask() == [False, True, True, False]


@pytest.mark.parametrize("make", [
    lambda: FrameRange(0, 5, "painted"),
    lambda: FrameRange(0, 5, "generated"),               # generated frames need a Generation
    lambda: FrameRange(5, 5, "camera"),
    lambda: FrameRange(0, 2.5, "camera"),
    lambda: ProvenanceRecord([FrameRange(0, 3, "camera"), FrameRange(4, 6, "camera")]),
    lambda: ProvenanceRecord([FrameRange(1, 3, "camera")]),
    lambda: camera(10).slice(5, 11),
    lambda: camera(10).replace(8, 12, camera(1)),
    lambda: concatenate([camera(3), ProvenanceRecord.camera(3, "x", fps=30.0)]),
    lambda: camera(10).retime([0, 9.5]),
    lambda: ProvenanceRecord.from_dict({"ranges": [{"start": 0, "stop": 3, "kind": "camera"}], "frame_count": 4}),
    lambda: ProvenanceRecord.from_dict({"version": 99, "ranges": [{"start": 0, "stop": 3, "kind": "camera"}]}),
    lambda: ProvenanceRecord.from_json("{not json"),
])
def test_bad_records_raise_input_errors(make):
    with pytest.raises(InputError):
        make()


def test_decisions_survive_edits_without_duplicates():
    a, b = generated(4), generated(4, Generation("tenku-small", "a blue box falls", seed=1))
    a.log_decision({"allowed": True, "prompt": "p1"}, at="t")
    b.log_decision({"allowed": True, "prompt": "p2"}, at="t")
    cut = concatenate([a, b, a])
    assert [d["prompt"] for d in cut.decisions] == ["p1", "p2"]
    assert [d["prompt"] for d in cut.slice(0, 2).decisions] == ["p1", "p2"]


# --------------------------------------------------------------------------
# The JSON form (issue 34)
# --------------------------------------------------------------------------

def test_a_record_nested_too_deep_is_refused_by_line():
    text = '{"ranges":\n' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InputError, match="line 2: nested more than 64 levels deep"):
        ProvenanceRecord.from_json(text)
