"""Discovered components: ``compgen decomposition-scene``, ``decompose``, ``recombine``; benchmarks
``discovery``, ``recombination`` and ``concepts``."""

from __future__ import annotations

import argparse
from pathlib import Path

from compgen.tasks.commands import TaskCommands, add_sampler_flags

ORDER = 7  # where `compgen --help` lists this task

DECOMPOSE = ("Encode a 24 x 24 scene with a shipped decomposition model (trained without labels on one "
             "colour data set) into K latents, then draw each component alone and their product. Prints "
             "what the detector sees in each and how much of the image each latent claims.")
RECOMBINE = ("Compose components of two images, optionally of two models (say red-green and blue-yellow), "
             "into one product and sample it. Component numbers are those `compgen decompose` prints.")


def register(cli: TaskCommands) -> None:
    cli.title = "components discovered without labels (scene decomposition, recombination, concepts)"
    cli.command("decomposition-scene", scene, scene_flags,
                help="write a random scene of a colour data set as a 24 x 24 PNG (input for decompose)")
    cli.command("decompose", decompose, decompose_flags,
                help="split a scene PNG into discovered components; draw each alone", description=DECOMPOSE)
    cli.command("recombine", recombine, recombine_flags,
                help="compose chosen components of two scene PNGs into a new scene", description=RECOMBINE)
    cli.benchmark("discovery", discovery, discovery_flags,
                  help="train a decomposition model (K latent-conditioned denoisers whose product is the "
                       "image) and measure reconstruction, FG-ARI and coverage on held-out scenes")
    cli.benchmark("recombination", recombination, recombination_flags,
                  help="put an object of one scene into another by composing components, within a data set "
                       "and across two; vs pixel averaging and a monolithic model")
    cli.benchmark("concepts", concepts, concepts_flags,
                  help="discover 5 concepts in the frozen scenes_sentences model from unlabeled images")


def scene_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.decomposition.data import DATASETS

    p.add_argument("--dataset", choices=list(DATASETS), default="red-green")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="scene.png")


def scene(args: argparse.Namespace) -> None:
    from compgen.tasks.decomposition.data import make_scenes
    from compgen.tasks.decomposition.pictures import write_png

    images, scenes = make_scenes(1, args.dataset, seed=args.seed)
    write_png(images[0], args.out)
    print(f"wrote {args.out}: {'; '.join(o.sentence for o in scenes[0].objects)} "
          f"(on {scenes[0].background})")


def _model(name: str):
    """A shipped decomposition model by data set name, or a checkpoint path."""
    from compgen.checkpoint import load
    from compgen.models.decomposed import DecomposedDiffusion
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.decomposition.data import DATASETS

    model = load_pretrained(f"decomposition_{name}") if name in DATASETS else load(name)
    if not isinstance(model, DecomposedDiffusion):
        raise TypeError(f"--model: {name} holds a {type(model).__name__}, not a DecomposedDiffusion")
    return model


def decompose_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.decomposition.evaluate import RECONSTRUCTION_GUIDANCE

    p.add_argument("image", help="a 24 x 24 RGB PNG (e.g. from `compgen decomposition-scene`)")
    p.add_argument("--model", default="red-green",
                   help="shipped model (red-green or blue-yellow) or a checkpoint path")
    p.add_argument("--guidance", type=float, default=RECONSTRUCTION_GUIDANCE,
                   help="guidance weight of the reconstruction over the null latent (1: the plain product "
                        "of the components); each component alone is drawn unguided")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="decomposition.png")


def decompose(args: argparse.Namespace) -> None:
    import torch

    from compgen.tasks.decomposition.bench import plot_decomposition
    from compgen.tasks.decomposition.evaluate import decompose as split
    from compgen.tasks.decomposition.pictures import read_png
    from compgen.tasks.images.detector import detect
    from compgen.tasks.images.models import to_model_space

    model = _model(args.model)
    image = read_png(args.image, model.size)[None]
    result = split(model, image, seed=args.seed, guidance=args.guidance)
    with torch.no_grad():
        share = model.segmentation(to_model_space(torch.from_numpy(image)))[0].mean(-1)
    print(f"composed: {_seen(detect(result.reconstructions[0]))}")
    for k, render in enumerate(result.renders[0]):
        print(f"component {k} ({share[k]:.0%} of the pixels): {_seen(detect(render))}")
    plot_decomposition(result, Path(args.out))
    print(f"wrote {args.out}")


def recombine_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", help="scene PNG whose components --take picks")
    p.add_argument("b", help="scene PNG whose components --take-b picks")
    p.add_argument("--take", required=True, help="components of A, e.g. 0,1,3")
    p.add_argument("--take-b", required=True, help="components of B, e.g. 2")
    p.add_argument("--model", default="red-green", help="A's model: red-green, blue-yellow or a path")
    p.add_argument("--from", dest="model_b", default=None, help="B's model (default: A's)")
    p.add_argument("--composition", choices=["spatial", "product"], default="spatial",
                   help="spatial: each component's score weighted by its share of the pixels (B's "
                        "components take their object's pixels); product: their plain product")
    p.add_argument("--guidance", type=float, default=None,
                   help="guidance weight over the null latent (1: none); default 1 for spatial, "
                        "3 for product")
    add_sampler_flags(p, default="reverse", choices=["reverse", "ula", "mala"], example="--set levels=30")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="recombined.png")


def recombine(args: argparse.Namespace) -> None:
    import torch

    from compgen.tasks.commands import sampler_settings
    from compgen.tasks.decomposition.pictures import read_png, write_grid
    from compgen.tasks.decomposition.recombine import recombined_composition, spatial_composition
    from compgen.tasks.images.detector import detect
    from compgen.tasks.images.generate import sample_images
    from compgen.tasks.images.models import to_model_space

    model_a = _model(args.model)
    model_b = model_a if args.model_b is None else _model(args.model_b)
    take_a, take_b = _indices(args.take, model_a.k, "--take"), _indices(args.take_b, model_b.k, "--take-b")
    with torch.no_grad():
        xa = to_model_space(torch.from_numpy(read_png(args.a, model_a.size)[None]))
        xb = to_model_space(torch.from_numpy(read_png(args.b, model_b.size)[None]))
        za, zb = model_a.encode(xa)[0], model_b.encode(xb)[0]
        if args.composition == "spatial":
            ma, mb = model_a.segmentation(xa)[0], model_b.segmentation(xb)[0]
    if args.composition == "spatial":
        composition = spatial_composition(model_a, za[take_a], ma[take_a], model_b, zb[take_b], mb[take_b],
                                          1.0 if args.guidance is None else args.guidance)
    else:
        composition = recombined_composition(model_a, za[take_a], model_b, zb[take_b],
                                             3.0 if args.guidance is None else args.guidance)
    x, _ = sample_images(composition, args.samples, args.sampler, seed=args.seed,
                         **sampler_settings(args.set))
    for i, image in enumerate(x.numpy()):
        print(f"sample {i}: {_seen(detect(image))}")
    write_grid(x.numpy(), args.out)
    print(f"wrote {args.out}")


def _indices(text: str, k: int, flag: str) -> list[int]:
    try:
        chosen = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{flag} expects comma-separated component numbers, got {text!r}") from None
    if not chosen or any(not 0 <= c < k for c in chosen) or len(set(chosen)) != len(chosen):
        raise ValueError(f"{flag} expects distinct component numbers in 0..{k - 1}, got {text!r}")
    return chosen


def _seen(detections) -> str:
    from compgen.tasks.images.scenes import PLACES

    return ", ".join(f"{d.colour} {d.shape} {PLACES[d.place]}" for d in detections) or "no object"


def discovery_flags(p: argparse.ArgumentParser) -> None:
    from compgen.tasks.decomposition.data import DATASETS
    from compgen.tasks.decomposition.models import AUTOENCODER_STEPS, DECODER, DENOISER_STEPS

    p.add_argument("--dataset", choices=list(DATASETS), default="all")
    p.add_argument("--steps", type=int, default=DENOISER_STEPS,
                   help="denoiser training steps (16 images each; ~0.4 s per step on one core)")
    p.add_argument("--autoencoder-steps", type=int, default=AUTOENCODER_STEPS,
                   help="slot autoencoder training steps, before the denoiser's (16 images each; ~0.11 s "
                        "per step)")
    p.add_argument("--decoder-layers", type=int, default=DECODER[0],
                   help="convolutions of the autoencoder's mask decoder (README: 4 with --decoder-kernel 5 "
                        "tried, not shipped)")
    p.add_argument("--decoder-kernel", type=int, default=DECODER[1], help="their kernel size")
    p.add_argument("--test", type=int, default=100, help="held-out scenes")
    p.add_argument("--components", type=int, default=4,
                   help="K latents per image; 1 trains the monolithic baseline of bench recombination")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--trained", default=None,
                   help="evaluate this checkpoint (written by bench discovery, record beside it) instead of "
                        "training; the record's data set, steps and seed replace the flags")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def discovery(args: argparse.Namespace) -> dict:
    from compgen.tasks.decomposition.bench import run_discovery

    if args.smoke:
        return run_discovery(Path(args.out), args.dataset, steps=2, scenes=32, test=4, seed=args.seed,
                             levels=3, progress=not args.quiet, components=args.components,
                             autoencoder_steps=2, decoder=(args.decoder_layers, args.decoder_kernel))
    return run_discovery(Path(args.out), args.dataset, args.steps, test=args.test, seed=args.seed,
                         progress=not args.quiet, components=args.components,
                         autoencoder_steps=args.autoencoder_steps,
                         decoder=(args.decoder_layers, args.decoder_kernel),
                         trained=Path(args.trained) if args.trained else None)


def recombination_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None,
                   help="folder with the decomposition_*.safetensors of bench discovery (default: shipped)")
    p.add_argument("--monolithic", default=None,
                   help="checkpoint of the K = 1 baseline (bench discovery --dataset red-green "
                        "--components 1); without it the monolithic column is empty")
    p.add_argument("--tests", type=int, default=150,
                   help="recombinations per case (one SE of a rate: <= 0.04)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def recombination(args: argparse.Namespace) -> dict:
    from compgen.models.pretrained import WEIGHTS_DIR
    from compgen.tasks.decomposition.bench import run_recombination

    weights = Path(args.weights) if args.weights else WEIGHTS_DIR
    monolithic = Path(args.monolithic) if args.monolithic else None
    if args.smoke:
        return run_recombination(Path(args.out), weights, tests=3, seed=args.seed, levels=3,
                                 monolithic=monolithic)
    return run_recombination(Path(args.out), weights, args.tests, args.seed, monolithic=monolithic)


def concepts_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", type=int, default=150, help="unlabeled training images per setting")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--samples", type=int, default=20, help="samples drawn per concept")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, for tests")


def concepts(args: argparse.Namespace) -> dict:
    from compgen.tasks.decomposition.bench import run_concepts

    if args.smoke:
        return run_concepts(Path(args.out), images=8, steps=2, samples=2, seed=args.seed, levels=3,
                            progress=not args.quiet)
    return run_concepts(Path(args.out), args.images, args.steps, args.samples, args.seed,
                        progress=not args.quiet)

