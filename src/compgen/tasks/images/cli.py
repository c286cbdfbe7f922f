"""Commands of text-to-image composition: train-images, image, tapestry; benchmark images."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from compgen.tasks.commands import TaskCommands, add_sampler_flags, sampler_settings, save_with_record

TRAIN_IMAGES = ("A score network (diffusers UNet2DModel body, 24x24 RGB) conditioned on MiniLM sentence "
                "embeddings. --kind sentences: each scene with ONE of its objects' sentences (the factors "
                "`image` composes); --kind paragraph: with the whole scene's paragraph (the "
                "monolithic baseline). The checkpoint is rewritten every 500 steps, so an interrupted run "
                "leaves a usable model (its .json says how far).")
IMAGE = ("Compose one factor per sentence of a sentence-level model (shipped: 24x24 scenes of coloured "
         "shapes) with guidance, p(x) prod_i (p(x|t_i)/p(x))^w, all sentences in one batched pass per step, "
         "and sample it. Sentences read 'a <red|green|blue|yellow> <circle|square|triangle> "
         "<in the top left|at the top|...|in the center|...>'.")
TAPESTRY = ("Multiply per-window sentence products over overlapping 24x24 windows of a larger canvas and "
            "sample the product. The layout JSON is {\"height\": H, \"width\": W, \"regions\": "
            "[{\"top\": y, \"left\": x, \"sentences\": [...]}]}, windows starting on multiples of 8 "
            "pixels and sentences in each window's own places. Without a file: a 24x48 example.")
EXAMPLE_LAYOUT = [("circle", "red", 0, 0), ("square", "blue", 2, 2), ("triangle", "yellow", 1, 4),
                  ("circle", "green", 2, 5)]


ORDER = 4  # where `compgen --help` lists this task


def register(cli: TaskCommands) -> None:
    cli.title = "text-to-image (one factor per sentence)"
    cli.command("train-images", train_images, train_images_flags,
                help="train a text-conditioned image model on synthetic scenes", description=TRAIN_IMAGES)
    cli.command("image", image, image_flags, help="text-to-image by composing sentence factors; writes a PNG "
                "grid", description=IMAGE)
    cli.command("tapestry", tapestry, tapestry_flags,
                help="a wider canvas from per-window sentence products; writes a PNG", description=TAPESTRY)
    cli.benchmark("images", images, images_flags,
                  help="composed sentence models vs the monolithic paragraph model, 1-4 objects, seen and "
                  "held-out combinations; negation; tapestry (needs `train-images` for both kinds)")


def train_images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", default="sentences", choices=["sentences", "paragraph"])
    p.add_argument("--steps", type=int, default=8000, help="training steps at batch 64")
    p.add_argument("--scenes", type=int, default=20000, help="training scenes (no red beside blue)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="checkpoint (.safetensors; default data/image_models/scenes_KIND)")


def train_images(args: argparse.Namespace) -> None:
    from compgen.tasks.images.models import default_path, train_image_model

    out = Path(args.out or default_path(args.kind))
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def snapshot(step, ema):  # an interrupted run leaves a usable, honestly labelled model
        save_with_record(ema, out, args, time.perf_counter() - started, kind=args.kind,
                         scenes=args.scenes, steps_done=step, quiet=True)

    model, seconds = train_image_model(args.kind, args.steps, args.scenes, args.seed,
                                       progress=not args.quiet, checkpoint=snapshot)
    save_with_record(model, out, args, seconds, kind=args.kind, scenes=args.scenes, steps_done=args.steps)


def _sampling_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="sentence model checkpoint (default: the shipped scenes_sentences)")
    p.add_argument("--n", type=int, default=8, help="images")
    add_sampler_flags(p, default="ula", choices=["ula", "mala", "reverse"], example="--set levels=20")
    p.add_argument("--weight", type=float, default=3.0, help="guidance weight per sentence")
    p.add_argument("--seed", type=int, default=0)


def _image_model(path: str | None):
    from compgen.checkpoint import load
    from compgen.models.pretrained import WEIGHTS_DIR

    return load(Path(path) if path else WEIGHTS_DIR / "scenes_sentences.safetensors")


def image_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("sentences", nargs="+", help='e.g. "a red circle in the top left"')
    p.add_argument("--negate", action="append", default=[], metavar="SENTENCE",
                   help="an object that must not appear (a negative-weight factor)")
    p.add_argument("--out", default="image.png")
    _sampling_flags(p)


def image(args: argparse.Namespace) -> None:
    from compgen.tasks.images.detector import correct, exact
    from compgen.tasks.images.generate import sample_images, sentence_product
    from compgen.tasks.images.plots import image_grid
    from compgen.tasks.images.scenes import parse

    objects = [parse(s) for s in args.sentences]
    for s in args.negate:
        parse(s)  # a sentence the model cannot read is the user's error, before any sampling
    composition = sentence_product(_image_model(args.model), args.sentences, args.weight,
                                   negatives=args.negate)
    images, result = sample_images(composition, args.n, args.sampler, seed=args.seed, progress=not args.quiet,
                                   **sampler_settings(args.set))
    found = sum(correct(i, objects) for i in images.numpy())
    only = sum(exact(i, objects) for i in images.numpy())
    prompt = " and ".join(args.sentences) + "".join(f" and not {s}" for s in args.negate)
    image_grid([(f"{args.sampler}: {prompt}", images.numpy())], Path(args.out), scale=1.6)
    print(f"{prompt}\n{args.sampler}: {result.summary()}\n{found} of {args.n} images show every requested "
          f"object; {only} of {args.n} show exactly the requested objects, nothing else (detector); "
          f"wrote {args.out}")


def tapestry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("layout", nargs="?", help="layout JSON (default: a built-in example)")
    p.add_argument("--out", default="tapestry.png")
    _sampling_flags(p)


def tapestry(args: argparse.Namespace) -> None:
    from compgen.tasks.images.generate import sample_images
    from compgen.tasks.images.plots import image_grid
    from compgen.tasks.images.tapestry import Layout, region_correct, tapestry

    layout = Layout.from_json(args.layout) if args.layout else Layout.from_objects(24, 48, EXAMPLE_LAYOUT)
    composition = tapestry(_image_model(args.model), layout, args.weight)
    images, result = sample_images(composition, args.n, args.sampler, seed=args.seed, progress=not args.quiet,
                                   canvas=(layout.height, layout.width), **sampler_settings(args.set))
    ok = region_correct(images.numpy(), layout)
    for region, right in zip(layout.regions, ok.T, strict=True):
        print(f"window at (top {region.top}, left {region.left}): requested objects present in "
              f"{int(right.sum())}/{args.n}: "
              + (" and ".join(region.sentences) or "(no sentences: unconditional)"))
    image_grid([(f"{args.sampler}: {len(layout.regions)} windows", images.numpy())], Path(args.out),
               scale=2.0)
    print(f"{args.sampler}: {result.summary()}\n{int(ok.all(1).sum())} of {args.n} canvases right in every "
          f"window; wrote {args.out}")


def images_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="data/image_models",
                   help="folder of scenes_sentences / scenes_paragraph `train-images` checkpoints")
    p.add_argument("--scenes", type=int, default=8, help="prompts per (objects, split) cell")


def images(args: argparse.Namespace) -> dict:
    from compgen.tasks.images.bench import run_images_benchmark

    return run_images_benchmark(Path(args.out), Path(args.models), scenes=args.scenes,
                                progress=not args.quiet)
