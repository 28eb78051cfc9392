"""engine.provenance.record: per-frame-range provenance and the edits that change it."""
import json
import re
from pathlib import Path

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

FIXTURE = Path(__file__).parent / "fixtures" / "record-v1"


def test_a_take_record_grows_with_its_sources_not_its_length():
    from engine.bench.records import stretched_record

    short, long = stretched_record(10, prompt_chars=2000), stretched_record(600, prompt_chars=2000)
    assert len(long.ranges) == 9600  # generated and interpolated ranges alternate, 16 a second
    text = long.to_json(indent=None)
    assert len(text) < 8000 and len(text) - len(short.to_json(indent=None)) < 50
    prompt = long.ranges[0].generation.prompt
    assert len(prompt) == 2000 and text.count(prompt) == 1  # once (its reading, capitalised, once more)
    assert ProvenanceRecord.from_json(text) == long


def test_distinct_generations_are_each_written_once_and_rows_refer_to_them():
    other = Generation("tenku-small", "a blue box falls", seed=2)
    cut = concatenate([generated(4), camera(3), generated(2, other), generated(3)])
    d = cut.to_dict()
    assert d["version"] == 2 and [g["prompt"] for g in d["generations"]] == [GEN.prompt, other.prompt]
    assert [r.get("generation") for r in d["ranges"]] == [0, None, 1, 0]
    assert ProvenanceRecord.from_dict(json.loads(json.dumps(d))) == cut


def test_repeated_patterns_fold_and_keep_their_source_frames():
    rec = ProvenanceRecord.camera(9, "cam.mp4", fps=8.0, source_start=100).retime_fps(24.0)  # C I I C I I ... C
    d = rec.to_dict()
    folded, last = d["ranges"]
    assert (folded["start"], folded["stop"], last["start"]) == (0, 24, 24)
    assert folded["repeat"][0] == {"frames": 1, "kind": "camera", "source": "cam.mp4", "source_start": 100,
                                   "source_step": 1}
    assert last["source_start"] == 108
    back = ProvenanceRecord.from_dict(d)
    assert back == rec and back.range_at(12).source_start == 104


def test_version_1_records_are_still_read():
    side = json.loads((FIXTURE / "take.mp4.json").read_text())
    assert side["provenance"]["version"] == 1 and isinstance(side["provenance"]["ranges"][0]["generation"], dict)
    rec = ProvenanceRecord.from_dict(side["provenance"])
    assert rec.frame_count == 30 and rec.strip() == "GII" * 8 + "C" * 6
    assert rec.ranges[0].generation.settings["read_as"] == "A red ball moves right on a grassy field."
    assert rec.range_at(29).source_start == 40  # the camera range of frames 24-29 starts at source frame 40
    again = rec.to_dict()
    assert again["version"] == 2 and ProvenanceRecord.from_dict(again) == rec


def _repeat(start, stop, parts):
    return {"version": 2, "ranges": [{"start": start, "stop": stop, "repeat": parts}]}


@pytest.mark.parametrize("d, says", [
    ({"ranges": [{"start": 0, "stop": 3, "kind": "generated", "generation": 1}],
      "generations": [{"model": "m", "prompt": "p"}]}, "refers to generation 1; the record holds 1"),
    ({"ranges": [{"start": 0, "stop": 3, "kind": "generated", "generation": 0}]}, "holds 0"),
    (_repeat(0, 5, [{"frames": 1, "kind": "camera"}, {"frames": 1, "kind": "interpolated"}]), "not a whole number"),
    (_repeat(0, 10 ** 12, [{"frames": 1, "kind": "camera", "source": "a"}, {"frames": 1, "kind": "interpolated"}]),
     "over 10,000,000 frames"),
    (_repeat(0, 4_000_000, [{"frames": 1, "kind": "camera", "source": "a"}, {"frames": 1, "kind": "interpolated"}]),
     "over 1,000,000 frame ranges"),
    (_repeat(0, 4, [{"frames": 0, "kind": "camera"}]), "not a whole number"),
    ({"ranges": [{"start": 0, "stop": 3, "kind": "camera"}], "decisions": "allowed"}, "'decisions' is a list"),
    ({"ranges": [{"start": 0, "stop": 3, "kind": "camera", "details": [1]}]}, "details"),
    ({"version": "2", "ranges": [{"start": 0, "stop": 3, "kind": "camera"}]}, "not a whole number"),
])
def test_malformed_version_2_records_are_one_line_input_errors(d, says):
    with pytest.raises(InputError, match=re.escape(says)):
        ProvenanceRecord.from_dict(d)


def test_a_record_nested_too_deep_is_refused_by_line():
    text = '{"ranges":\n' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InputError, match="line 2: nested more than 64 levels deep"):
        ProvenanceRecord.from_json(text)
