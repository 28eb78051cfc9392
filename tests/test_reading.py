"""The prompt reader (engine.world.reading): slot spans from the captioner, the tagger, the colour-name
table, the reading's caption, and the engine giving the model that caption."""
import json
import random

import numpy as np
import pytest
import torch

from engine.world import reading
from engine.world.captioner import COLOUR_WORDS, caption, spans, training_words
from engine.world.reading import TAGS, Reading, assemble, lexicon_colour, load_lexicon, palette_colour
from engine.world.scene import COLOURS, sample_scene


@pytest.fixture(scope="module")
def text():
    from engine.models.text import TextEncoder
    return TextEncoder()


def test_marked_captions_are_the_same_captions_with_their_slot_spans():
    for seed in range(300):
        scene = sample_scene(seed)
        for split, rich in (("train", False), ("train", True), ("eval", False)):
            plain = caption(scene, seed, split, rich)
            text, sp = spans(caption(scene, seed, split, rich, mark=True))
            assert text == plain  # marking draws nothing: the benchmark's prompts are unchanged
            slots = [t.split(":")[0] for _, _, t in sp]
            assert slots.count("colour") == slots.count("shape") == slots.count("motion") == len(scene.objects)
            for (a, b, tag), colour in zip([s for s in sp if s[2].startswith("colour:")],
                                           [o.colour for o in scene.objects]):
                assert tag == f"colour:{colour}"
                assert text[a:b].lower() in [w.lstrip("~").lower() for w in COLOUR_WORDS[colour]]


def test_token_labels_follow_the_spans(text):
    t, sp = "A small red ball moves left on the grass.", []
    for phrase, tag in (("small", "size:small"), ("red", "colour:red"), ("ball", "shape:ball"),
                        ("moves left", "motion:left"), ("on the grass", "background:grass")):
        a = t.index(phrase)
        sp.append((a, a + len(phrase), tag))
    enc = text.tokenizer([t], return_offsets_mapping=True)
    offsets = [tuple(o) for o in enc["offset_mapping"][0]]
    labels = reading.token_labels(offsets, sp)
    tokens = text.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    got = {tok: TAGS[i] if i >= 0 else None for tok, i in zip(tokens, labels)}
    assert got["[CLS]"] is None and got["a"] == "O" and got["red"] == "colour:red"
    assert got["left"] == "motion:left" and got["grass"] == "background:grass"


def test_words_keep_pieces_and_hyphens_together(text):
    t = "An amethyst pumpkin-coloured ball, quickly"
    enc = text.tokenizer([t], return_offsets_mapping=True)
    groups = reading._words([tuple(o) for o in enc["offset_mapping"][0]], t)
    offsets = enc["offset_mapping"][0]
    words = [t[offsets[g[0]][0]:offsets[g[-1]][1]] for g in groups]
    assert words == ["An", "amethyst", "pumpkin-coloured", "ball", ",", "quickly"]


def test_assemble_groups_objects_and_writes_training_wording():
    runs = [("Beneath the stars", "background", "night", 0.9), ("a", "O", None, 1.0), ("tiny", "size", "small", 1.0),
            ("jade", "colour", "green", 1.0), ("kite", "O", None, 0.9), ("glides leftwards", "motion", "left", 0.8),
            ("quickly", "speed", "quickly", 0.99), ("and", "O", None, 1.0), ("a", "O", None, 1.0),
            ("blue", "colour", "blue", 1.0), ("box", "shape", "box", 1.0), ("watch", "speed", "slowly", 0.5),
            ("stays still", "motion", "still", 0.95), ("with", "camera", "zoom_in", 0.6)]
    r = assemble(runs, load_lexicon(), training_words(True))
    assert r.objects == [{"colour": "green", "shape": None, "size": "small", "motion": "left", "speed": "quickly",
                          "noun": "kite"},
                         {"colour": "blue", "shape": "box", "size": None, "motion": "still", "speed": None}]
    assert r.background == "night" and r.camera is None and not r.wall  # unsure runs are left out
    assert r.lexicon == [("jade", "green")]
    assert r.usable()
    assert r.caption() == "A small green kite moves left quickly and a blue box stays still at night."
    assert not assemble([("red", "colour", "red", 1.0), ("ball", "shape", "ball", 1.0)]).usable()  # no motion
    guessed = assemble([("red", "colour", "red", 1.0), ("ball", "shape", "ball", 1.0), ("glides", "motion", "up", 0.3),
                        ("leftwards", "motion", "left", 0.5)])
    assert guessed.objects[0]["motion"] == "left" and guessed.usable()  # the likeliest unsure motion, none surer


def test_rules_for_what_training_captions_never_say():
    def read(*runs):
        return assemble([r if len(r) == 4 else (*r, 1.0) for r in runs], load_lexicon(), training_words(True))

    red_ball = (("red", "colour", "red"), ("ball", "shape", "ball"))
    # a noun of WORLD.md's shape table is that shape; a noun outside it stays the user's word
    r = read(("red", "colour", "red"), ("crate", "O", None), ("slides right", "motion", "right"))
    assert r.objects[0]["shape"] == "box" and "noun" not in r.objects[0]
    # a compass word is a direction, however the tagger leaned
    r = read(*red_ball, ("heads", "motion", "up", 0.7), ("east", "background", "studio", 0.21))
    assert r.objects[0]["motion"] == "right" and r.background is None
    # a pillar said not to be there is not there, even after the tagger read "a" as one
    r = read(("a", "wall", "wall", 0.82), *red_ball, ("moves left", "motion", "left"),
             (", no wall", "wall", "wall", 0.87))
    assert not r.wall and r.objects[0]["motion"] == "left"
    assert read(*red_ball, ("rolls", "motion", "left"), ("past a pillar", "wall", "wall")).wall
    # one motion said for two objects is both objects'
    r = read(*red_ball, ("and a", "O", None), ("blue", "colour", "blue"), ("box", "shape", "box"), ("both", "O", None),
             ("move right", "motion", "right"), ("slowly", "speed", "slowly"))
    assert [(o["motion"], o["speed"]) for o in r.objects] == [("right", "slowly")] * 2
    # "the red one" and "it is big" are the objects named before, not new ones
    r = read(*red_ball, ("and a", "O", None), ("blue", "colour", "blue"), ("box", "shape", "box"), ("; the", "O", None),
             ("red", "colour", "red"), ("one", "O", None), ("moves left", "motion", "left"), ("and the", "O", None),
             ("blue", "colour", "blue"), ("one", "O", None), ("falls", "motion", "down"))
    assert [(o["colour"], o["shape"], o["motion"]) for o in r.objects] == [("red", "ball", "left"),
                                                                          ("blue", "box", "down")]
    r = read(*red_ball, ("rolls right", "motion", "right"), (",", "O", None), ("it", "motion", "up", 0.93),
             ("is big", "size", "big"))
    assert r.objects == [{"colour": "red", "shape": "ball", "size": "big", "motion": "right", "speed": None}]
    r = read(*red_ball, ("and a", "O", None), ("blue", "colour", "blue"), ("one", "O", None), ("rise", "motion", "up"))
    assert [(o["colour"], o["shape"]) for o in r.objects] == [("red", "ball"), ("blue", "ball")]  # a blue ball
    # left or right with a camera move is the camera's; "out" of frame is no zoom
    r = read(*red_ball, ("rolls right", "motion", "right"), (",", "O", None),
             ("tracking left", "motion", "right", 0.51))
    assert r.objects[0]["motion"] == "right" and r.camera == "pan_left"
    r = read(*red_ball, ("moves", "motion", "right"), ("out", "camera", "zoom_out", 0.98), ("of frame", "O", None))
    assert r.camera is None
    # a shade said before a palette word is that palette colour; "-coloured" makes any word a colour
    lexicon, known = load_lexicon(), training_words(True)
    assert lexicon_colour("salmon pink", lexicon, known) == "pink"
    assert lexicon_colour("rose-coloured", lexicon, known) == "pink"  # though "rose" is a training word (rises)


def test_a_reading_without_an_object_is_not_used():
    assert not assemble([("a cat", "O", None, 1.0), ("sits", "motion", "still", 0.9)]).usable()
    assert not assemble([("ball", "shape", "ball", 1.0)]).usable()  # no colour: the prompt stays as written
    r = Reading([{"colour": "red", "shape": "ball", "size": "big", "motion": "up", "speed": None}], "sky", True,
                "pan_left")
    assert r.caption() == "A big red ball rises in the sky with a pillar in the middle, with the camera panning left."
    assert json.loads(json.dumps(r.to_dict()))["objects"][0]["motion"] == "up"


def test_palette_colours_and_colour_names():
    for name, rgb in COLOURS.items():
        assert palette_colour("#%02x%02x%02x" % rgb) == name
    assert palette_colour("#808080") is None and palette_colour("#ffffff") is None
    lexicon, known = load_lexicon(), training_words(True)
    assert len(lexicon) > 500
    for word, colour in (("jade", "green"), ("sapphire", "blue"), ("ruby", "red"), ("amethyst", "purple"),
                         ("pumpkin-coloured", "orange"), ("navy", "blue"), ("maroon", "red"), ("lavender", "purple"),
                         ("cornflower-blue", "blue")):
        assert lexicon_colour(word, lexicon, known) == colour, word
    assert lexicon_colour("cobalt", lexicon, known) is None  # a training word: the tagger has read it
    assert lexicon_colour("sky-blue", lexicon, known) is None  # training words both
    assert lexicon_colour("teal", lexicon, known) is None  # between green and blue: no palette colour
    assert lexicon_colour("sofa", lexicon, known) is None


def test_fillers_are_words_of_no_slot(text):
    fillers = reading.filler_words(text)
    known = training_words(True)
    assert 5000 < len(fillers) < 15000
    assert not set(fillers) & known and not set(fillers) & set(load_lexicon())
    rng = random.Random(0)
    t, sp = reading._insert_fillers(rng, "A red ball moves left on the grass.",
                                    [(2, 5, "colour:red"), (6, 10, "shape:ball"), (11, 21, "motion:left")], fillers, 3)
    assert [t[a:b] for a, b, _ in sp] == ["red", "ball", "moves left"] and len(t.split()) == 11


def test_tiny_reader_trains_and_round_trips(tmp_path, text):
    from engine.models.reader import PromptReader

    model = reading.train_reader(captions=64, steps=20, batch=16, text_encoder=text,
                                 config=dict(width=32, layers=1, heads=2))
    model.save_pretrained(tmp_path / "reader")
    again = PromptReader.from_pretrained(tmp_path / "reader").eval()
    assert again.config.tags == TAGS
    h, m, _ = text.encode(["A red ball moves left."])
    with torch.no_grad():
        assert torch.equal(model(h, m), again(h, m))
    runs = reading.Reader(again, text).tags(["A red ball moves left."])[0]
    assert "".join(w for w, *_ in runs).replace(" ", "") == "Aredballmovesleft."


@pytest.fixture(scope="module")
def bundled_reader(text):
    from engine.families.pipeline import BUNDLED_MODEL

    assert (BUNDLED_MODEL / "reader" / "config.json").exists(), "the bundled model has no prompt reader"
    return reading.Reader.from_pretrained(BUNDLED_MODEL / "reader", text)


def test_bundled_reader_reads_prompts_it_never_saw(bundled_reader):
    rows = [json.loads(line) for line in reading.PROMPTS.read_text().splitlines()]
    score = reading.score_prompts(bundled_reader, rows)
    # docs/BENCHMARKS.md ("Reading prompts") has the figures; these are floors well under them
    assert score["colour"] >= 0.85 and score["motion"] >= 0.7 and score["usable"] >= 0.8, score
    # held-out size, colour, noun and background words: the tables place amethyst and wedge
    r = bundled_reader.read("An oversized amethyst wedge sinks beneath the stars.")
    assert r.usable() and r.caption() == "A big purple triangle falls at night."
    assert r.lexicon == [("amethyst", "purple")]
    r = bundled_reader.read("a yellow ball rolls right with no pillar, it is big")
    assert r.caption() == "A big yellow ball moves right." and not r.wall


def test_engine_gives_the_model_the_reading_and_records_it(monkeypatch):
    from engine.families.pipeline import BUNDLED_MODEL
    from engine.request import BASE_FPS, GenerateRequest
    from engine.service import Engine

    engine = Engine(BUNDLED_MODEL)
    prompt = "On the open water, one petite sapphire sphere lifts upwards."
    read_as = engine.model_prompt(prompt)
    assert read_as != prompt and "blue" in read_as and "rises" in read_as
    assert engine.model_prompt(prompt, literal=True) == prompt
    seen = []
    encode = engine.pipe.encode_prompt
    monkeypatch.setattr(engine.pipe, "encode_prompt", lambda p: seen.append(p) or encode(p))
    for literal in (False, True):
        res = engine.generate(GenerateRequest(prompt=prompt, steps=2, fps=BASE_FPS, literal=literal))
        assert res.settings["read_as"] == (prompt if literal else read_as)
    assert seen[0][0] == read_as and seen[1][0] == prompt
    assert res.record is not None
    assert engine.model_prompt("A cat sits on a sofa.") == "A cat sits on a sofa."  # nothing to read: as written


def test_a_model_without_a_reader_is_given_the_prompt_as_written(tiny_model):
    from engine.service import Engine

    assert Engine(tiny_model).model_prompt("A jade orb glides leftwards.") == "A jade orb glides leftwards."


def test_export_reader_adds_the_reader_to_a_model_folder(tiny_model, tmp_path, text):
    import shutil

    from engine.models.reader import PromptReader
    from engine.training import train

    folder = tmp_path / "model"
    shutil.copytree(tiny_model, folder)
    PromptReader(tags=list(TAGS), width=16, layers=1, heads=2).save_pretrained(tmp_path / "run" / "reader")
    train.export_reader(tmp_path / "run" / "reader", folder)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["reader"] == ["engine.models.reader", "PromptReader"] and index["training"]["reader"]["steps"] > 0
    from engine.families.pipeline import WorldPipeline
    assert WorldPipeline.from_pretrained(folder).reader is not None


def test_cli_says_how_the_prompt_was_read_and_literal_skips_it(tmp_path, capsys):
    from engine.__main__ import main

    prompt = "an oversized ruby crate comes downwards"
    args = ["generate", "--prompt", prompt, "--steps", "2", "--fps", "8", "--seconds", "0.25"]
    assert main([*args, "--out", str(tmp_path / "a.mp4")]) == 0
    err = capsys.readouterr().err
    assert "read as: 'A big red box falls.'" in err, err
    assert json.loads((tmp_path / "a.mp4.json").read_text())["settings"]["read_as"] == "A big red box falls."
    assert main([*args, "--literal", "--out", str(tmp_path / "b.mp4")]) == 0
    assert "read as" not in capsys.readouterr().err
    assert json.loads((tmp_path / "b.mp4.json").read_text())["settings"]["read_as"] == prompt


def test_reader_score_command_prints_json(capsys):
    assert reading.main(["score", "--captions", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["held_out_captions"]["captions"] == 20 and out["reader_prompts"]["prompts"] >= 30
    assert out["reader_prompts_fresh"]["prompts"] == 20 and np.isfinite(out["reader_prompts_fresh"]["whole"])
