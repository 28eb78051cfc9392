"""C2PA signing, the local certificate chain, and `python -m engine verify`."""
import json
import os
import random
import stat
from pathlib import Path

import c2pa
import pytest

from engine.__main__ import main
from engine.errors import InputError
from engine.provenance import (
    Generation,
    ProvenanceRecord,
    SignerConfig,
    concatenate,
    digital_source_type,
    ensure_local_chain,
    read_manifest,
    sign_mp4,
    trust_anchors_pem,
    watermark_record_frames,
)
from engine.provenance.c2pa_sign import IPTC, _issue_chain
from engine.provenance.mp4 import top_level_boxes
from engine.video import media

GEN = Generation("tenku-small", "a red ball rolls to the right", seed=3, settings={"steps": 12})


def world_clip(seed=0, frames=16, fps=8):
    from engine.world import render, sample_scene

    return render(sample_scene(random.Random(seed)), 128, 128, fps, frames)


def write_signed(path, frames, record, config, fps=8):
    frames = watermark_record_frames(frames, record)
    media.write_output(path, frames, fps, sidecar={"provenance": record.to_dict()})
    sign_mp4(path, record, config)
    return path


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """A generated clip written and signed the way the engine does, with its config folder."""
    root = tmp_path_factory.mktemp("signed")
    record = ProvenanceRecord.generated(16, GEN, fps=8)
    record.log_decision({"allowed": True, "prompt": GEN.prompt, "policy": "test"}, at="t")
    path = write_signed(root / "gen.mp4", world_clip(), record, root / "config")
    return path, root / "config", record


def verify(*args, capsys=None):
    rc = main(["verify", *map(str, args)])
    out = capsys.readouterr() if capsys else None
    return rc, out


# --------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------

def test_generated_mp4_validates_with_c2pa_reader(signed):
    path, config, record = signed
    ctx = c2pa.Context.from_dict({"trust": {"user_anchors": trust_anchors_pem(config)},
                                  "verify": {"remote_manifest_fetch": False}})
    with c2pa.Reader(str(path), context=ctx) as reader:
        assert reader.get_validation_state() == "Trusted"
        active = reader.get_active_manifest()
    actions = next(a for a in active["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created"
    assert actions[0]["digitalSourceType"] == IPTC + "trainedAlgorithmicMedia"
    ours = next(a for a in active["assertions"] if a["label"] == "org.tenku.provenance")["data"]
    assert ProvenanceRecord.from_dict(ours["record"]) == record
    assert ours["record"]["watermark"]["scheme"] == "tenku-ss-v1"


def test_signed_file_still_plays_and_ends_in_a_seal(signed):
    path, _, _ = signed
    video = media.read_video(path)
    assert len(video) == 16
    assert [b[0] for b in top_level_boxes(path)][-1] == "skip"


def test_mixed_cut_states_which_frames_are_which(tmp_path, signed):
    _, config, _ = signed
    cut = concatenate([ProvenanceRecord.camera(8, "interview.mp4", fps=8),
                       ProvenanceRecord.generated(8, GEN, fps=8),
                       ProvenanceRecord.camera(8, "interview.mp4", fps=8, source_start=8)])
    cut = cut.mark(20, 22, "interpolated", details={"method": "dis-flow"})
    path = write_signed(tmp_path / "cut.mp4", world_clip(1, frames=24), cut, config)
    report = read_manifest(path, trust_anchors_pem(config))
    assert report.trusted
    assert report.digital_source_type == IPTC + "compositeWithTrainedAlgorithmicMedia"
    assert [(r.start, r.stop, r.kind) for r in report.record.ranges] == [
        (0, 8, "camera"), (8, 16, "generated"), (16, 20, "camera"), (20, 22, "interpolated"), (22, 24, "camera")]
    assert report.record.ranges[4].source_start == 14


def test_digital_source_types():
    cam = ProvenanceRecord.camera(4, "a.mp4")
    assert digital_source_type(cam) == IPTC + "digitalCapture"
    assert digital_source_type(cam.mark(1, 2, "interpolated")) == IPTC + "compositeSynthetic"
    assert digital_source_type(ProvenanceRecord.generated(4, GEN).retime_factor(2)) == IPTC + "trainedAlgorithmicMedia"
    assert digital_source_type(cam.mark(1, 3, "inpainted",
                                        generation=GEN)) == IPTC + "compositeWithTrainedAlgorithmicMedia"


def test_local_chain_is_made_once_and_kept_private(tmp_path):
    first = ensure_local_chain(tmp_path)
    pem = first.cert_chain.read_text()
    again = SignerConfig.from_config_dir(tmp_path)
    assert again.cert_chain.read_text() == pem
    assert stat.S_IMODE(os.stat(first.private_key).st_mode) == 0o600
    assert pem.count("BEGIN CERTIFICATE") == 2  # leaf + root
    assert trust_anchors_pem(tmp_path).count("BEGIN CERTIFICATE") == 1


def test_a_studio_can_bring_its_own_certificate(tmp_path):
    root_pem, chain_pem, key_pem = _issue_chain("Example Films signer")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "chain.pem").write_text(chain_pem)
    (creds / "key.pem").write_text(key_pem)
    (creds / "root.pem").write_text(root_pem)
    config = tmp_path / "config"
    (config / "c2pa").mkdir(parents=True)
    (config / "c2pa" / "signer.toml").write_text(
        f'cert_chain = "{creds / "chain.pem"}"\nprivate_key = "{creds / "key.pem"}"\n'
        f'trust_anchors = ["{creds / "root.pem"}"]\n')
    path = write_signed(tmp_path / "studio.mp4", world_clip(2), ProvenanceRecord.generated(16, GEN, fps=8), config)
    report = read_manifest(path, trust_anchors_pem(config))
    assert report.trusted and report.signer["common_name"] == "Example Films signer"
    assert not (config / "c2pa" / "signer-key.pem").exists()  # no local chain was made


def test_sign_rejects_bad_input_and_leaves_nothing_behind(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match="not an MP4"):
        sign_mp4(text, ProvenanceRecord.generated(1, GEN), tmp_path / "cfg")
    with pytest.raises(InputError, match="no signer"):
        media.write_video(tmp_path / "ok.mp4", world_clip(frames=4), 8)
        sign_mp4(tmp_path / "ok.mp4", ProvenanceRecord.generated(4, GEN), None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.mp4", "ok.mp4"]


# --------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------

def test_verify_accepts_the_signed_file(signed, capsys):
    path, config, _ = signed
    rc, out = verify(path, "--config", config, capsys=capsys)
    assert rc == 0, out.out
    assert "VERIFIED" in out.out and "Trusted" in out.out
    assert "frames 0-15: generated by tenku-small" in out.out
    assert "watermark: detected" in out.out


def test_verify_json_report(signed, capsys):
    path, config, record = signed
    rc, out = verify(path, "--config", config, "--json", capsys=capsys)
    report = json.loads(out.out)
    assert rc == 0 and report["verified"]
    assert report["c2pa"]["record"] == record.to_dict()
    assert report["watermark"]["detected"] and report["watermark"]["confidence"] > 0.999999


@pytest.mark.parametrize("where", ["ftyp", "manifest", "manifest-padding", "moov", "mdat", "last-byte"])
def test_verify_rejects_a_one_byte_flip(signed, tmp_path, capsys, where):
    path, config, _ = signed
    data = bytearray(path.read_bytes())
    boxes = {name: (off, size) for name, off, size in top_level_boxes(path)}
    off, size = boxes[{"manifest": "uuid", "manifest-padding": "uuid"}.get(where,
                                                                           where)] if where != "last-byte" else (0, 0)
    pos = {"ftyp": off + 9, "manifest": off + 60, "manifest-padding": off + size - 200,
           "moov": off + size // 2, "mdat": off + size // 2, "last-byte": len(data) - 1}[where]
    data[pos] ^= 0x01
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(data)
    rc, out = verify(copy, "--config", config, capsys=capsys)
    assert rc != 0, out.out
    assert "NOT VERIFIED" in out.out or out.err.startswith("error: ")


def test_verify_untrusted_signer(signed, tmp_path, capsys):
    path, _, _ = signed
    (tmp_path / "other-user").mkdir()  # another user's config folder, with no signing roots of ours
    rc, out = verify(path, "--config", tmp_path / "other-user", capsys=capsys)
    assert rc == 1 and "not trusted" in out.out
    assert not list((tmp_path / "other-user").iterdir())  # verify never creates a chain
    rc, _ = verify(path, "--config", tmp_path / "other-user", "--allow-untrusted", capsys=capsys)
    assert rc == 0


def test_verify_after_reencode_reports_the_watermark(signed, tmp_path, capsys):
    path, config, _ = signed
    media.write_video(tmp_path / "reencoded.mp4", media.read_video(path).frames, 8, crf=23)
    rc, out = verify(tmp_path / "reencoded.mp4", "--config", config, "--json", capsys=capsys)
    report = json.loads(out.out)
    assert rc == 1 and not report["c2pa"]["present"]
    assert report["watermark"]["detected"]


def test_verify_unmarked_unsigned_video(tmp_path, capsys):
    media.write_video(tmp_path / "plain.mp4", world_clip(5), 8)
    rc, out = verify(tmp_path / "plain.mp4", "--config", tmp_path, capsys=capsys)
    assert rc == 1 and "no manifest" in out.out and "watermark: not detected" in out.out


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("hello, I am a text file"), "not an MP4"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "not a file"),
])
def test_verify_bad_input_exits_2_with_one_line(tmp_path, capsys, make, message):
    target = tmp_path / "input.mp4"
    make(target)
    rc, out = verify(target, "--config", tmp_path, capsys=capsys)
    assert rc == 2
    assert message in out.err and out.err.count("\n") == 1 and out.out == ""


def test_verify_truncated_file(signed, tmp_path, capsys):
    path, config, _ = signed
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 20):
        (tmp_path / "cut.mp4").write_bytes(data[:cut])
        rc, out = verify(tmp_path / "cut.mp4", "--config", config, capsys=capsys)
        assert rc == 2 and "truncated" in out.err, (cut, out)


# --------------------------------------------------------------------------
# verify: the JSON sidecar against the signed record
# --------------------------------------------------------------------------

def copy_with_sidecar(signed, folder, edit=None, text=None):
    """A copy of the signed clip in `folder` with its sidecar, optionally edited."""
    import shutil

    path, _, _ = signed
    folder.mkdir(exist_ok=True)
    copy = folder / "clip.mp4"
    shutil.copy(path, copy)
    data = json.loads((path.parent / (path.name + ".json")).read_text())
    if edit is not None:
        edit(data)
    (folder / "clip.mp4.json").write_text(json.dumps(data) if text is None else text)
    return copy


def test_verify_checks_a_matching_sidecar(signed, tmp_path, capsys):
    path, config, _ = signed
    copy = copy_with_sidecar(signed, tmp_path)
    rc, out = verify(copy, "--config", config, capsys=capsys)
    assert rc == 0, out.out
    assert "sidecar: " in out.out and "matches the signed record" in out.out
    rc, out = verify(copy, "--config", config, "--json", capsys=capsys)
    assert json.loads(out.out)["sidecar"]["state"] == "matches"


def test_verify_reports_a_missing_sidecar_as_absent(signed, tmp_path, capsys):
    path, config, _ = signed
    copy = copy_with_sidecar(signed, tmp_path)
    (tmp_path / "clip.mp4.json").unlink()
    rc, out = verify(copy, "--config", config, capsys=capsys)
    assert rc == 0 and "sidecar: absent" in out.out and "VERIFIED" in out.out


def _set_prompt(d):
    d["provenance"]["generations"][0]["prompt"] = "a blue cube"


def _set_kind(d):
    d["provenance"]["ranges"][0].update(kind="camera", source="cam.mp4")
    d["provenance"]["ranges"][0].pop("generation")


def _drop_decisions(d):
    d["provenance"]["decisions"] = []


@pytest.mark.parametrize("edit, says", [
    (_set_prompt, "differs in generation"),
    (_set_kind, "differs in generation, kind, source"),
    (_drop_decisions, "prompt-policy decisions differ"),
    (lambda d: d.update(frames=99), "99 frames"),
    (lambda d: d.pop("provenance"), "no 'provenance' record"),
])
def test_verify_fails_on_an_edited_sidecar(signed, tmp_path, capsys, edit, says):
    path, config, _ = signed
    copy = copy_with_sidecar(signed, tmp_path, edit)
    rc, out = verify(copy, "--config", config, capsys=capsys)
    assert rc == 1, out.out
    assert "sidecar: MISMATCH" in out.out and says in out.out, out.out
    assert "NOT VERIFIED" in out.out and "sidecar does not match the signed record" in out.out


def test_verify_fails_on_a_sidecar_from_another_file(signed, tmp_path, capsys):
    path, config, _ = signed
    other = ProvenanceRecord.generated(24, Generation("tenku-small", "a green triangle", seed=9), fps=8)
    write_signed(tmp_path / "other.mp4", world_clip(3, frames=24), other, config)
    copy = copy_with_sidecar(signed, tmp_path / "mine")
    (tmp_path / "mine" / "clip.mp4.json").write_bytes((tmp_path / "other.mp4.json").read_bytes())
    rc, out = verify(copy, "--config", config, "--json", capsys=capsys)
    report = json.loads(out.out)
    assert rc == 1 and not report["verified"] and report["c2pa"]["intact"]
    assert report["sidecar"]["state"] == "mismatch"
    assert any("frame count 24 in the sidecar, 16 signed" in d for d in report["sidecar"]["differences"])
    # --sidecar points at another sidecar: the right one makes the copy verify again
    rc, _ = verify(copy, "--config", config, "--sidecar", path.parent / (path.name + ".json"), capsys=capsys)
    assert rc == 0


def test_verify_fails_on_an_unreadable_sidecar_and_rejects_a_missing_one_by_name(signed, tmp_path, capsys):
    path, config, _ = signed
    copy = copy_with_sidecar(signed, tmp_path, text="{not json")
    rc, out = verify(copy, "--config", config, capsys=capsys)
    assert rc == 1 and "cannot be read as JSON" in out.out
    rc, out = verify(copy, "--config", config, "--sidecar", tmp_path / "nope.json", capsys=capsys)
    assert rc == 2 and "--sidecar" in out.err and out.err.count("\n") == 1


def test_verify_does_not_compare_a_sidecar_without_an_intact_manifest(tmp_path, capsys):
    media.write_output(tmp_path / "plain.mp4", world_clip(5), 8, sidecar={"provenance": {"ranges": []}})
    rc, out = verify(tmp_path / "plain.mp4", "--config", tmp_path, capsys=capsys)
    assert rc == 1 and "no manifest" in out.out and "not checked" in out.out


# --------------------------------------------------------------------------
# Issue 34: what a bad-input sweep found
# --------------------------------------------------------------------------

FIXTURE = Path(__file__).parent / "fixtures" / "record-v1"


def test_a_600_second_take_with_a_2000_character_prompt_signs_and_verifies(signed, tmp_path, capsys):
    from engine.bench.records import stretched_record

    _, config, _ = signed
    record = stretched_record(600, prompt_chars=2000)  # 14,400 frames in 9,600 ranges
    record.log_decision({"allowed": True, "prompt": record.ranges[0].generation.prompt, "policy": "test"}, at="t")
    path = tmp_path / "long.mp4"  # a short real clip: a manifest's size does not depend on the frames it signs
    media.write_output(path, world_clip(4, frames=24), 24, sidecar={"provenance": record.to_dict()})
    sign_mp4(path, record, config)
    rc, out = verify(path, "--config", config, capsys=capsys)
    assert rc == 0, out.out
    assert "record: 14400 frames at 24 fps: 4800 generated, 9600 interpolated" in out.out
    assert "matches the signed record" in out.out and "... 9560 more ranges" in out.out
    assert read_manifest(path, trust_anchors_pem(config)).record == record


def test_a_take_signed_with_a_version_1_record_still_verifies(tmp_path, capsys):
    rc, out = verify(FIXTURE / "take.mp4", "--config", tmp_path, "--trust", FIXTURE / "root.pem", capsys=capsys)
    assert rc == 0, out.out
    assert "record: 30 frames at 24 fps: 8 generated, 16 interpolated, 6 camera" in out.out
    assert "frames 24-29: camera from interview.mp4 frame 40" in out.out
    assert "take.mp4.json matches the signed record" in out.out


def test_credentials_that_do_not_sign_are_found_by_check(tmp_path):
    cfg = ensure_local_chain(tmp_path / "good")
    cfg.check()  # signs a few bytes, quietly
    broken = ensure_local_chain(tmp_path / "broken")
    broken.private_key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError, match="signing credentials in .*broken.* are not usable"):
        broken.check()
    other = ensure_local_chain(tmp_path / "other")  # a key that is not the certificate's
    other.private_key.write_bytes(cfg.private_key.read_bytes())
    with pytest.raises(InputError, match=r"do not sign \(.*signature does not match"):
        other.check()
    other.private_key.unlink()
    with pytest.raises(InputError, match="cannot be read"):
        other.check()


def test_a_file_that_cannot_be_signed_is_never_left_in_place(tmp_path):
    out = tmp_path / "take.mp4"
    out.write_bytes(b"the earlier take")

    def fail(path):
        raise InputError("C2PA did not sign take.mp4 (test)")

    with pytest.raises(InputError, match="did not sign"):
        media.write_output(out, world_clip(frames=4), 8, sidecar={"provenance": {}}, seal=fail)
    assert out.read_bytes() == b"the earlier take" and sorted(p.name for p in tmp_path.iterdir()) == ["take.mp4"]


@pytest.mark.parametrize("pem, says", [
    ("-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n",
     "certificate 1 of 1 cannot be read"),
    (None, "without its END line"),
])
def test_verify_blames_an_unreadable_trust_file(signed, tmp_path, capsys, pem, says):
    path, config, _ = signed
    trust = tmp_path / "root.pem"
    trust.write_text(pem if pem is not None else (FIXTURE / "root.pem").read_text()[:300])
    rc, out = verify(path, "--config", config, "--trust", trust, capsys=capsys)
    assert rc == 2 and out.out == "", out.out
    assert out.err.startswith(f"error: --trust {str(trust)!r}") and says in out.err and "manifest" not in out.err
    assert out.err.count("\n") == 1


def test_verify_names_a_sidecar_nested_too_deep(signed, tmp_path, capsys):
    _, config, _ = signed
    copy = copy_with_sidecar(signed, tmp_path, text='{"provenance":\n' + "[" * 100_000 + "]" * 100_000 + "}")
    rc, out = verify(copy, "--config", config, capsys=capsys)
    assert rc == 1 and "line 2: nested more than 64 levels deep" in out.out and "sidecar: MISMATCH" in out.out
