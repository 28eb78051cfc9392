"""Recipe search: transformer variants trained on one shared data set and scored while they train.

The bundled model's recipe has to fit six hours of a 2-core CPU, so what a recipe learns per clip
decides what ships. On a machine with a GPU this runs the recipe's own steps (engine.training:
`flow_loss`, clean patterns, EMA) for any preset, batch and learning rate, many times faster, and
scores the EMA weights every `--eval-every` steps on world cases in training wording and on the
held-out benchmark (engine.bench.world.score_transformer). Several variants can share one GPU as
separate processes. The latents come from the bundled model's VAE, so variants are comparable
with the bundled transformer. Findings go into docs/TRAINING.md; nothing here is shipped.

    python -m engine.bench.recipe_search data --run runs/search --clips 24000 --device cuda --workers 15
    python -m engine.bench.recipe_search train --run runs/search --name s2 --preset S2 --device cuda \\
        --batch 128 --steps 20000 --eval-every 3000 --minutes 10 --export runs/search/s2/model

`probe` asks a cheaper question about the captions alone, in minutes on the CPU: a small reader of
the text encoder's token states (attention pooling, as cross-attention reads them) learns each
single-object caption's motion from training captions, plain or rich, and is scored on the
benchmark's held-out wording. It bounds how well any transformer that reads those states can
follow wording it never saw, for each way of writing the training captions.

    python -m engine.bench.recipe_search probe
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import torch

from engine.bench.world import build_cases, score_transformer
from engine.families.pipeline import BUNDLED_MODEL, WorldPipeline
from engine.models.dit import PRESETS
from engine.models.text import TextEncoder
from engine.models.vae import VideoVAE
from engine.training import train
from engine.world import caption, sample_scene
from engine.world.scene import DIRECTIONS, MOTIONS


def build(args):
    vae = VideoVAE.from_pretrained(Path(args.vae))
    train.build_data(Path(args.run), vae, clips=args.clips, device=args.device, workers=args.workers)


def eval_sets(size: int) -> dict:
    """Training wording on training combinations (does it fit?) and the benchmark (does it generalise?)."""
    return {"train": build_cases(size, size // 3, size // 3, phrasing="train", combos="train"),
            "bench": build_cases(size, size // 3, size // 3)}


class MotionProbe(torch.nn.Module):
    """Attention pooling over token states (one learned query per head), then a linear motion classifier."""

    def __init__(self, width: int = 384, heads: int = 4, head_dim: int = 64, classes: int = 9):
        super().__init__()
        self.head_dim = head_dim
        self.query = torch.nn.Parameter(torch.randn(heads, head_dim) * 0.1)
        self.key = torch.nn.Linear(width, heads * head_dim)
        self.value = torch.nn.Linear(width, heads * head_dim)
        self.out = torch.nn.Linear(heads * head_dim, classes)

    def forward(self, states, mask):
        B, L, _ = states.shape
        k = self.key(states).view(B, L, -1, self.head_dim)
        v = self.value(states).view(B, L, -1, self.head_dim)
        a = torch.einsum("blhd,hd->bhl", k, self.query) / self.head_dim ** 0.5
        a = a.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        return self.out(torch.einsum("bhl,blhd->bhd", a, v).flatten(1))


def probe_captions(n: int, split: str, rich: bool, seed: int, encoder):
    """`n` single-object captions of `split` (train: training wording, `rich` or plain; eval: the
    benchmark's held-out wording), their token states and mask, and each object's motion index."""
    rng, caps, ys = random.Random(seed), [], []
    while len(caps) < n:
        scene = sample_scene(rng, split=split)
        scene = dataclasses.replace(scene, objects=scene.objects[:1])
        caps.append(caption(scene, rng, split=split, rich=rich))
        ys.append(MOTIONS.index(scene.objects[0].motion))
    states, masks = zip(*[encoder.encode(caps[i:i + 256])[:2] for i in range(0, n, 256)])
    return torch.cat(states).float(), torch.cat(masks).bool(), torch.tensor(ys)


def text_probe(train_captions: int = 4000, test_captions: int = 1000, steps: int = 1500, seeds: int = 2) -> dict:
    """Held-out-wording accuracy of MotionProbe trained on plain and on rich captions (see the module notes)."""
    encoder = TextEncoder()
    states, mask, y = probe_captions(test_captions, "eval", False, 99, encoder)
    directional = torch.tensor([MOTIONS[i] in DIRECTIONS for i in y.tolist()])
    out = {}
    for rich in (False, True):
        rows = []
        for seed in range(seeds):
            tr_states, tr_mask, tr_y = probe_captions(train_captions, "train", rich, 10 + seed, encoder)
            torch.manual_seed(seed)
            probe = MotionProbe(classes=len(MOTIONS))
            opt = torch.optim.AdamW(probe.parameters(), lr=1e-3, weight_decay=0.01)
            for _ in range(steps):
                i = torch.randint(0, train_captions, (128,))
                loss = torch.nn.functional.cross_entropy(probe(tr_states[i], tr_mask[i]), tr_y[i])
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():
                right = probe(states, mask).argmax(1) == y
            rows.append({"seed": seed, "train_loss": round(loss.item(), 4), "motion": round(right.float().mean().item(),
                                                                                            3),
                         "direction": round(right[directional].float().mean().item(), 3)})
        out["rich" if rich else "plain"] = {
            "motion": round(sum(r["motion"] for r in rows) / seeds, 3),
            "direction": round(sum(r["direction"] for r in rows) / seeds, 3), "runs": rows}
    out["test_cases"] = {"all": test_captions, "direction": int(directional.sum())}
    return out


def run_variant(args):
    root = Path(args.run)
    if not any((root / "data").glob("shard_*.pt")):
        raise ValueError(f"{root / 'data'} holds no data shards: run `python -m engine.bench.recipe_search data` first")
    run = root / args.name
    run.mkdir(parents=True, exist_ok=True)
    if not (run / "data").exists():
        (run / "data").symlink_to((root / "data").resolve(), target_is_directory=True)
    config = {**PRESETS[args.preset], **json.loads(args.over)}
    vae = VideoVAE.from_pretrained(Path(args.vae)).eval().to(args.device)
    sets = eval_sets(args.eval_size)

    def on_eval(ema):
        return {name: score_transformer(ema, vae, cases, batch=args.eval_batch) for name, cases in sets.items()}

    r = train.RECIPE
    ema, step = train.train_dit(run, config, steps=args.steps, batch=args.batch, lr=args.lr, shift=r["shift"],
                                t_uniform=r["t_uniform"], text_drop=r["text_drop"], ema_decay=args.ema,
                                object_weight=r["object_weight"], max_seconds=args.minutes * 60,
                                compile=not args.no_compile, wide_frames=args.wide_frames, device=args.device,
                                eval_every=args.eval_every, on_eval=on_eval, seed=args.seed)
    if args.export:
        WorldPipeline(vae.cpu(), ema.cpu(), train.SCHEDULER_CONFIG).save_pretrained(
            Path(args.export), extra_index={"training": {"dit_steps": step, "recipe_search": vars(args)}},
            transformer_dtype=torch.float16)
    print(json.dumps({"name": args.name, "step": step}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.bench.recipe_search", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="render, caption and encode a shared data set (resumable)")
    d.add_argument("--run", required=True, help="search folder; data goes to RUN/data")
    d.add_argument("--clips", type=int, default=24000)
    d.add_argument("--workers", type=int, default=0, help="rendering processes (0: in this process)")
    t = sub.add_parser("train", help="train one variant (resumes from RUN/NAME/dit.pt)")
    t.add_argument("--run", required=True)
    t.add_argument("--name", required=True, help="variant folder under RUN")
    t.add_argument("--preset", default=train.RECIPE["dit_preset"])
    t.add_argument("--over", default="{}", help='JSON overrides of the preset, e.g. \'{"positions": "sincos"}\'')
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--steps", type=int, default=20000, help="length of the cosine schedule")
    t.add_argument("--minutes", type=float, default=10.0, help="wall-time budget of this call")
    t.add_argument("--ema", type=float, default=train.RECIPE["ema_decay"])
    t.add_argument("--wide-frames", type=int, default=train.RECIPE["wide_frames"])
    t.add_argument("--eval-every", type=int, default=2000, help="steps between scorings of the EMA weights")
    t.add_argument("--eval-size", type=int, default=48, help="direction cases per set (colour and permanence: a third)")
    t.add_argument("--eval-batch", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-compile", action="store_true")
    t.add_argument("--export", default=None, help="write the EMA weights as a model folder here at the end")
    pr = sub.add_parser("probe", help="how well a reader of the text encoder's states follows held-out motion "
                                      "wording after learning from plain or rich captions (CPU, minutes)")
    pr.add_argument("--train-captions", type=int, default=4000)
    pr.add_argument("--test-captions", type=int, default=1000)
    pr.add_argument("--steps", type=int, default=1500)
    pr.add_argument("--seeds", type=int, default=2)
    for q in (d, t):
        q.add_argument("--device", default="cpu", help="cpu or cuda")
        q.add_argument("--vae", default=str(BUNDLED_MODEL / "vae"), help="VAE folder (default: the bundled model's)")
    args = p.parse_args(argv)
    t0 = time.time()
    try:
        if args.cmd == "probe":
            for name in ("train_captions", "test_captions", "steps", "seeds"):
                if getattr(args, name) < 1:
                    raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
            print(json.dumps(text_probe(args.train_captions, args.test_captions, args.steps, args.seeds), indent=1))
        else:
            args.device = train.check_device(args.device)
            build(args) if args.cmd == "data" else run_variant(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"done in {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
