"""The command line as a script would use it: exit codes, outputs, sidecars, no partial files."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def config_dir(tmp_path_factory, monkeypatch):
    """Signing credentials are made in a test folder, never in the user's config."""
    monkeypatch.setenv("TENKU_CONFIG", str(tmp_path_factory.getbasetemp() / "tenku-config"))


def gen(tiny_model, *args):
    return main(["generate", "--model", str(tiny_model), "--steps", "2", "--dtype", "float32", "--quiet", *args])


def test_generate_writes_mp4_and_sidecar(tiny_model, tmp_path):
    out = tmp_path / "a.mp4"
    assert gen(tiny_model, "--prompt", "a red ball moves right", "--out", str(out), "--fps", "8") == 0
    side = json.loads(Path(str(out) + ".json").read_text())
    assert side["settings"]["prompt"] == "a red ball moves right"
    assert side["frames"] == 16 and side["provenance"]["ranges"][0]["kind"] == "generated"
    from engine.video import media
    v = media.read_video(out)
    assert len(v) == 16 and v.frames.shape[1:3] == (128, 128)
    from engine.provenance import trust_anchors_pem, verify_file
    report = verify_file(str(out), anchors_pem=trust_anchors_pem(os.environ["TENKU_CONFIG"]))
    assert report.verified and report.watermark.detected, report


def test_generate_notes_words_the_world_model_never_saw(tiny_model, tmp_path, capsys):
    out = tmp_path / "a.mp4"
    args = ["generate", "--model", str(tiny_model), "--steps", "1", "--fps", "8", "--out", str(out)]
    assert main([*args, "--prompt", "a cinematic amethyst orb moves right"]) == 0
    err = capsys.readouterr().err
    assert "never saw 'cinematic', 'amethyst', 'orb' in training" in err
    assert main([*args, "--prompt", "a big red ball moves right in a grey studio"]) == 0
    assert "never saw" not in capsys.readouterr().err


def test_a_model_trained_on_rich_captions_knows_their_words(tiny_model, tmp_path):
    import json
    import shutil

    from engine.service import Engine

    rich = tmp_path / "rich-world"
    shutil.copytree(tiny_model, rich)
    index = json.loads((rich / "model_index.json").read_text())
    index["training"] = {"recipe": {"data_rich": True}}
    (rich / "model_index.json").write_text(json.dumps(index))
    prompt = "the red ball makes its way to the right"
    assert Engine(tiny_model).unseen_words(prompt) == ["makes", "its", "way"]
    assert Engine(rich).unseen_words(prompt) == []


def test_same_seed_same_frames_png_folder(tiny_model, tmp_path):
    a, b, c = tmp_path / "a/", tmp_path / "b/", tmp_path / "c/"
    for out, seed in ((a, "1"), (b, "1"), (c, "2")):
        assert gen(tiny_model, "--prompt", "a blue box", "--out", str(out) + "/", "--seed", seed,
                   "--fps", "8", "--aspect", "16:9") == 0
    load = lambda d: np.stack([np.asarray(Image.open(p)) for p in sorted(Path(d).glob("*.png"))])
    fa, fb, fc = load(a), load(b), load(c)
    assert fa.shape == (16, 144, 256, 3)
    assert np.array_equal(fa, fb) and not np.array_equal(fa, fc)
    assert (Path(a) / "tenku.json").exists()


@pytest.mark.parametrize("args,needle", [
    (["--prompt", "   "], "prompt is empty"),
    (["--prompt", "x", "--aspect", "4:3"], "unknown aspect"),
    (["--prompt", "x", "--width", "100", "--height", "128"], "multiple of 16"),
    (["--prompt", "x", "--seconds", "0"], "seconds must be"),
    (["--prompt", "x", "--seconds", "-2"], "seconds must be"),
    (["--prompt", "x", "--seconds", "100000"], "seconds must be"),
    (["--prompt", "x", "--seconds", "0.01"], "seconds must be at least one frame: 0.042 s at 24 fps, got 0.01"),
    (["--prompt", "x", "--seconds", "0.1", "--fps", "8"], "at least one frame: 0.125 s at 8 fps, got 0.1"),
    (["--prompt", "x", "--out", "/nonexistent-dir/x.mp4"], "does not exist"),
    (["--prompt", "x", "--out", "clip.avi"], "must end in .mp4"),
])
def test_bad_input_one_line_exit_2_no_output(tiny_model, tmp_path, capsys, args, needle):
    os.chdir(tmp_path)
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "x.mp4")]
    assert gen(tiny_model, *args) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("fps", [8.0, 24.0, 24000 / 1001, 25.0, 30.0, 120.0])
def test_the_shortest_duration_is_one_frame_at_the_delivery_rate(fps):
    """Issue 31: 0.01 s was accepted. One frame is the least; the minimum the message says is itself accepted."""
    import re

    from engine.errors import InputError
    from engine.request import GenerateRequest

    assert GenerateRequest("x", seconds=1 / fps, fps=fps).delivered() == 1
    with pytest.raises(InputError, match="at least one frame") as e:
        GenerateRequest("x", seconds=0.99 / fps, fps=fps).validate()
    said = float(re.search(r"frame: ([0-9.]+) s at", str(e.value)).group(1))
    assert said >= 1 / fps and GenerateRequest("x", seconds=said, fps=fps).delivered() == 1
    GenerateRequest("x", seconds=said, fps=fps).validate()


def test_blocked_prompt_says_which_rule(tiny_model, tmp_path, capsys):
    policy = tmp_path / "p.toml"
    policy.write_text('name = "t"\nversion = 1\n[[rule]]\nid = "no-explosions"\ncategory = "violence"\n'
                      'message = "no explosions here"\nterms = ["explosion"]\n')
    code = gen(tiny_model, "--prompt", "a red ball and an explosion", "--policy", str(policy),
               "--out", str(tmp_path / "x.mp4"))
    assert code == 2 and "no-explosions" in capsys.readouterr().err and not (tmp_path / "x.mp4").exists()


def test_model_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    code = main(["generate", "--prompt", "x", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "x.mp4")])
    assert code == 2 and "no model_index.json" in capsys.readouterr().err


@pytest.mark.parametrize("args,needle", [(["--preset", "XL"], "not a transformer preset"),
                                         (["--batch", "0"], "--batch must be")])
def test_bench_train_bad_input_exit_2(capsys, args, needle):
    assert main(["bench", "--train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("spec", ["float16:24", "float32", "float32:0", "float32:24:99", "bfloat16:x",
                                  "float32+fast:24", "float32+full+full:24"])
def test_bench_compare_bad_settings_exit_2(capsys, spec):
    assert main(["bench", "--compare", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not DTYPE:STEPS[:GUIDANCE]" in err and len(err.splitlines()) == 1


def test_bench_compare_reports_every_setting_side_by_side(tiny_model, capsys):
    assert main(["bench", "--model", str(tiny_model), "--compare", "float32:2,float32:1:1", "--repeats", "2",
                 "--seconds", "0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["settings"]
    assert [(r["dtype"], r["steps"], r["guidance"]) for r in rows] == [("float32", 2, 5.0), ("float32", 1, 1.0)]
    assert all(len(r["wall_s_per_clip"]) == 2 and r["wall_s_per_video_s"] > 0 for r in rows)
    assert rows[0]["vs_first"] == 1.0 and out["processor"] and out["peak_rss_mb"] > 0


def test_the_command_lines_help_does_not_load_torch():
    # issue 30: `python -m engine --help` took 8 s loading torch and diffusers for two names
    code = ("import sys, contextlib, io\nfrom engine.__main__ import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    with contextlib.suppress(SystemExit):\n        main(['--help'])\n"
            "print(sorted(m for m in ('torch', 'diffusers', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.strip() == "[]", out


def test_bench_profile_names_where_the_time_goes(tiny_model, capsys):
    assert main(["bench", "--model", str(tiny_model), "--profile", "--steps", "2", "--seconds", "0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    top = out["top"]
    assert 1 <= len(top) <= 15 and all(t["self_cpu_ms"] >= 0 and 0 <= t["share"] <= 1 for t in top)
    assert [t["self_cpu_ms"] for t in top] == sorted((t["self_cpu_ms"] for t in top), reverse=True)
    assert any(t["op"].startswith("aten::") for t in top) and out["compiled"] is False


def test_bench_scene_retries_are_checked_before_any_render(capsys):
    assert main(["bench", "--scene", "--retries", "11"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--retries must be from 0 to 10, got 11" in err and len(err.splitlines()) == 1
    assert main(["bench", "--scene", "--guidance", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--guidance must be from 0 to 30, got -1" in err and len(err.splitlines()) == 1
    assert main(["bench", "--scene", "--first-seed", "-3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--first-seed from 0 to 1000000, got 10 and -3" in err and len(err.splitlines()) == 1


def test_the_families_benchmark_is_a_bench_flag(capsys):
    # `python -m engine bench --families ...` takes the families benchmark's own options (the module entry too)
    with pytest.raises(SystemExit) as e:
        main(["bench", "--families", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "python -m engine bench --families" in out and "--family" in out
    with pytest.raises(SystemExit) as e:
        main(["bench", "--families", "--family", "sdxl"])
    assert e.value.code == 2 and "invalid choice: 'sdxl'" in capsys.readouterr().err


def test_the_real_footage_is_found_one_way(tmp_path):
    from engine.defaults import REAL_FOOTAGE, real_footage

    # a folder the caller names first (--data, TENKU_REAL_DATA), one that is not there passed over, then the default
    assert real_footage(str(tmp_path), None) == tmp_path
    default = next((p for p in REAL_FOOTAGE if p.is_dir()), REAL_FOOTAGE[0])
    assert real_footage(None, str(tmp_path / "gone")) == real_footage() == default



def test_batch_renders_good_lines_and_lists_bad_ones(tiny_model, tmp_path, capsys):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n".join([
        json.dumps({"prompt": "a red ball", "out": str(tmp_path / "1.mp4"), "fps": 8}),
        "{not json",
        json.dumps({"prompt": "", "out": str(tmp_path / "3.mp4")}),
        json.dumps({"prompt": "a green box", "out": str(tmp_path / "4.mp4"), "seed": 3, "fps": 8}),
        json.dumps({"prompt": "x", "colour": "red"}),
    ]) + "\n")
    assert gen(tiny_model, "--batch", str(jobs)) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "line 3" in err and "line 5" in err
    assert (tmp_path / "1.mp4").exists() and (tmp_path / "4.mp4").exists() and not (tmp_path / "3.mp4").exists()


def test_batch_lines_that_hold_the_wrong_things_fail_alone(tiny_model, tmp_path, capsys):
    """Each of these once stopped the whole batch with a traceback, or wrote two lines into one file."""
    ok = tmp_path / "ok.mp4"
    lines = [json.dumps({"prompt": "a red ball", "out": str(ok), "fps": 8}).encode(),
             json.dumps({"prompt": 5, "out": str(tmp_path / "2.mp4")}).encode(),
             json.dumps({"prompt": "a blue box", "seconds": "two", "out": str(tmp_path / "3.mp4")}).encode(),
             json.dumps({"prompt": "a blue box", "out": str(ok)}).encode(),
             b'{"prompt": "a \xff ball", "out": "x.mp4"}',
             json.dumps({"prompt": "a green box", "loop": 1, "out": str(tmp_path / "6.mp4")}).encode(),
             json.dumps({"out": str(tmp_path / "7.mp4")}).encode()]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(lines) + b"\r\n")  # a Windows editor's UTF-8
    assert gen(tiny_model, "--batch", str(jobs)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [e.split(":")[1].strip() for e in err] == [f"line {n}" for n in range(2, 8)], err  # line 1 rendered
    for line, needle in zip(err, ["line 2: 'prompt' must be text, got 5", "line 3: 'seconds' must be a number",
                                  "line 4: out", "line 5: not UTF-8", "line 6: 'loop' must be true or false",
                                  "line 7: the prompt is empty"]):
        assert needle in line, (needle, err)
    assert "line 1's output too" in err[2]
    assert ok.exists() and not list(tmp_path.glob("[2-7].mp4"))


def test_usage_mistakes_and_undecodable_prompts_are_one_line(tiny_model, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        gen(tiny_model, "--prompt", "x", "--seed", "many")
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "invalid int value: 'many'" in err
    for seed in ("-1", str(2 ** 32)):
        assert gen(tiny_model, "--prompt", "x", "--seed", seed, "--out", str(tmp_path / "s.mp4")) == 2
        assert "seed must be a whole number from 0 to 4294967295" in capsys.readouterr().err
    # bytes that are not UTF-8 reach Python's argv as lone surrogates
    assert gen(tiny_model, "--prompt", "a red \udcff ball", "--out", str(tmp_path / "u.mp4")) == 2
    err = capsys.readouterr().err.strip()
    assert "not UTF-8" in err and len(err.splitlines()) == 1 and not list(tmp_path.glob("*.mp4"))


def test_mistakes_found_by_fuzzing_are_refused_before_any_render(tiny_model, tmp_path, capsys):
    """Each once rendered first and failed after, or rendered for minutes, or left a traceback."""
    import shutil

    good = tmp_path / "good.mp4"
    assert gen(tiny_model, "--prompt", "a red ball", "--fps", "8", "--out", str(good)) == 0
    signed = good.read_bytes()
    assert capsys.readouterr().err == ""  # --quiet: not even a library's progress bar
    cases = [(["--config", str(good)], "--config"),  # replaced a signed file with an unsigned one
             (["--frames", str(10 ** 9)], "frames must be from 1 to 14400"),  # 1.2 GB of windows, no end
             (["--aspect", "16:9", "--width", "128", "--height", "128"], "not both"),
             (["--model", str(good)], "is a file")]
    for extra, needle in cases:
        assert gen(tiny_model, "--prompt", "a red ball", "--out", str(good), *extra) == 2, extra
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1, err
        assert good.read_bytes() == signed
    broken = tmp_path / "broken"  # weights cut short: one line, not fifty of traceback
    shutil.copytree(tiny_model, broken)
    weights = next(broken.glob("transformer/*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:1000])
    assert gen(tiny_model, "--prompt", "x", "--model", str(broken), "--out", str(tmp_path / "b.mp4")) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot be loaded" in err and len(err.splitlines()) == 1 and not (tmp_path / "b.mp4").exists()
    # a PNG folder whose name ends in .mp4/ is a folder, as the contract says; it keeps its record in tenku.json
    assert gen(tiny_model, "--prompt", "a red ball", "--fps", "8", "--out", str(tmp_path / "y.mp4") + "/") == 0
    assert (tmp_path / "y.mp4" / "000000.png").exists() and (tmp_path / "y.mp4" / "tenku.json").exists()


def test_real_process_exit_status(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "engine", "generate", "--prompt", "", "--out", str(tmp_path / "x.mp4")],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: ")


def test_evaluate_scores_the_truth_and_refuses_bad_settings(tiny_model, capsys):
    ev = ["evaluate", "--model", str(tiny_model), "--direction", "2", "--colour", "1", "--permanence", "1"]
    assert main([*ev, "--truth", "render"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cases"] == 4 and report["colour_adherence"] == 1.0 and report["direction_accuracy"] == 1.0
    assert main([*ev, "--truth", "vae", "--verbs", "2"]) == 2
    assert "does not go with --verbs" in capsys.readouterr().err
    assert main([*ev, "--churn", "1.5", "--dtype", "float32", "--steps", "1"]) == 2
    assert "churn must be between 0 and 1, got 1.5" in capsys.readouterr().err


def test_an_input_too_large_for_this_machine_is_refused_while_decoding(tiny_model, tmp_path, monkeypatch, capsys):
    """The verbs decode their input within half the memory available; past it, one line and exit 2."""
    from engine.cli import common
    from engine.video.media import write_video

    clip = write_video(tmp_path / "in.mp4", np.zeros((12, 64, 64, 3), np.uint8), 8)
    monkeypatch.setattr(common, "input_budget", lambda: 5 * 64 * 64 * 3)
    code = main(["fill", "--video", str(clip), "--frames", "3-5", "--model", str(tiny_model), "--steps", "1",
                 "--out", str(tmp_path / "out.mp4")])
    assert code == 2 and not (tmp_path / "out.mp4").exists()
    assert "--video: in.mp4 decodes to more than" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Issue 34: what a bad-input sweep found
# --------------------------------------------------------------------------

def test_batch_lines_and_files_too_deep_or_too_large_are_named(tmp_path, monkeypatch, capsys):
    from engine import datafiles

    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"prompt": "", "out": str(tmp_path / "1.mp4")}) + "\n"
                    + '{"prompt": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    assert main(["generate", "--batch", str(jobs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[1].startswith("error: line 2: nested more than 64 levels deep"), err
    monkeypatch.setitem(datafiles.MAX_BYTES, "batch file", 1 << 20)
    jobs.write_text("\n" * ((1 << 20) + 1))
    assert main(["generate", "--batch", str(jobs)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"batch file {str(jobs)!r} is over 1 MiB, the most a batch file may be" in err and "\n" not in err


def test_scene_files_too_deep_are_named_by_line(tmp_path, capsys):
    scene = tmp_path / "scene.json"
    scene.write_text('{"cast": {},\n "shots": ' + "[" * 5000 + "]" * 5000 + "}")
    assert main(["scene", str(scene), "--out", str(tmp_path / "s.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: scene file {str(scene)!r} line 2: nested more than 64 levels deep")
    assert "\n" not in err


@pytest.mark.parametrize("prompt, says", [
    ("a red ball " * 400, "the prompt is 4,400 characters; at most 4,000"),
    ("a red\x00 ball", "the prompt holds a NUL character at position 5"),
])
def test_prompts_too_long_or_with_a_nul_are_refused_before_work(tmp_path, capsys, prompt, says):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"prompt": prompt, "out": str(tmp_path / "1.mp4")}) + "\n")
    assert main(["generate", "--batch", str(jobs)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: line 1: ") and says in err and "\n" not in err
    if "\x00" not in prompt:  # (a command line cannot hold a NUL)
        assert main(["generate", "--prompt", prompt, "--out", str(tmp_path / "2.mp4")]) == 2
        assert says in capsys.readouterr().err
    assert not list(tmp_path.glob("*.mp4"))


def test_animate_never_writes_over_its_image(tmp_path, capsys):
    still = tmp_path / "still.mp4"  # a PNG under a video's name: it opens, and --out may name it
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(still, format="png")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.png").symlink_to(still)
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(frames / "000000.png")
    before = still.read_bytes()
    for image, out in ((still, still), (tmp_path / "sub" / ".." / "still.mp4", still), (tmp_path / "link.png", still),
                       (frames / "000000.png", f"{frames}/")):
        assert main(["animate", "--image", str(image), "--prompt", "a ball", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert "inputs are never modified" in err and "\n" not in err, err
    assert still.read_bytes() == before and sorted(p.name for p in frames.iterdir()) == ["000000.png"]


def test_an_animated_gif_is_not_a_still(tmp_path, capsys):
    gif = tmp_path / "spin.gif"
    first, *rest = [Image.fromarray(np.full((64, 64, 3), v, np.uint8)) for v in (0, 120, 240)]
    first.save(gif, save_all=True, append_images=rest, duration=100)
    assert main(["animate", "--image", str(gif), "--prompt", "a ball", "--out", str(tmp_path / "a.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is an animated GIF (3 frames); give a still PNG or JPEG" in err and "\n" not in err


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_an_output_folder_that_takes_no_files_is_said_to_be_not_writable(tmp_path, capsys):
    assert main(["generate", "--prompt", "a red ball", "--out", "/proc/x.mp4"]) == 2
    err = capsys.readouterr().err.strip()
    assert "folder '/proc' is not writable" in err and "No such file" not in err


def test_fill_says_a_reversed_range_is_reversed(tmp_path, capsys):
    from engine.video.media import write_video

    clip = write_video(tmp_path / "in.mp4", np.zeros((12, 64, 64, 3), np.uint8), 8)
    assert main(["fill", "--video", str(clip), "--frames", "10-5", "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert "frame range 10-5 is reversed; give the first frame first (5-10)" in err


def test_a_key_that_does_not_sign_is_one_line_before_any_frame(tiny_model, tmp_path, capsys):
    from engine.provenance import ensure_local_chain

    cfg = ensure_local_chain(tmp_path / "config")
    cfg.private_key.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    out = tmp_path / "a.mp4"
    args = ["--prompt", "a red ball", "--fps", "8", "--out", str(out), "--config", str(tmp_path / "config")]
    assert gen(tiny_model, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: signing credentials in") and "\n" not in err
    assert not out.exists() and not list(tmp_path.glob("*.mp4*"))


@pytest.mark.parametrize("verb", ["generate", "animate"])
def test_a_failed_signature_leaves_nothing_and_its_error_has_its_own_line(tiny_model, tmp_path, monkeypatch,
                                                                         capsys, verb):
    """Signing after the render (say, a disk that fills): no unsigned file where a signed one was promised, and
    the error is not glued to the progress line."""
    import engine.provenance

    def refuse(*a, **k):
        raise engine.__main__.InputError("C2PA did not sign a.mp4 (test)")

    import engine.__main__
    monkeypatch.setattr(engine.provenance, "sign_mp4", refuse)
    out = tmp_path / "a.mp4"
    still = ["--image", str(ROOT / "assets" / "examples" / "desert-ball.png")] if verb == "animate" else []
    assert main([verb, *still, "--prompt", "a red ball", "--fps", "8", "--seconds", "1", "--out", str(out),
                 "--model", str(tiny_model), "--steps", "1", "--dtype", "float32"]) == 2
    err = capsys.readouterr().err
    assert "\nerror: C2PA did not sign a.mp4 (test)\n" in err and "%" in err  # progress was shown, then the error
    left = sorted(p.name for p in tmp_path.iterdir())  # no file, no sidecar, no temporary; a take keeps its
    assert left == (["a.mp4.render", "a.partial.mp4"] if verb == "generate" else []), left  # windows to resume


def test_fill_keeps_the_picture_of_footage_whose_sound_is_broken(tiny_model, tmp_path, capsys):
    import av
    from conftest import broken_audio_clip

    clip = broken_audio_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    assert main(["fill", "--video", str(clip), "--frames", "6-7", "--method", "interpolate", "--out", str(out),
                 "--model", str(tiny_model), "--steps", "1", "--dtype", "float32", "--quiet"]) == 0
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and not c.streams.audio
    side = json.loads(Path(f"{out}.json").read_text())
    assert side["audio"]["dropped"].startswith("its sound cannot be decoded")
    assert main(["fill", "--video", str(clip), "--frames", "6-7", "--method", "interpolate", "--out", str(out),
                 "--model", str(tiny_model), "--steps", "1", "--dtype", "float32"]) == 0
    assert "in.mp4: its sound cannot be decoded" in capsys.readouterr().err
