"""``compgen bench discovery``: train a decomposition model, then measure on held-out scenes
what its components are (reconstruction, FG-ARI, coverage) and draw them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from compgen.checkpoint import load, save
from compgen.files import write_json
from compgen.tasks.decomposition.concepts import GUIDANCE as CONCEPT_GUIDANCE
from compgen.tasks.decomposition.concepts import (
    concept_composition,
    concept_images,
    discover_concepts,
    hidden_classes,
    matched_accuracy,
    nearest_sentence,
    purity,
)
from compgen.tasks.decomposition.data import make_scenes
from compgen.tasks.decomposition.evaluate import (
    LEVELS,
    RECONSTRUCTION_GUIDANCE,
    Decomposition,
    decompose,
    discovery_metrics,
    split_foreground_ari,
)
from compgen.tasks.decomposition.models import (
    AUTOENCODER_STEPS,
    BATCH,
    COMPONENTS,
    DECODER,
    DENOISER_STEPS,
    train_decomposition,
    weights_name,
)
from compgen.tasks.decomposition.recombine import (
    exact_rate,
    recombination_tests,
    recombined_composition,
    recombined_latents,
    spatial_composition,
    stacked,
)
from compgen.tasks.images.detector import exact
from compgen.tasks.images.generate import GUIDANCE, sample_images
from compgen.tasks.images.models import to_model_space, vocabulary_conditions
from compgen.tasks.images.scenes import VOCABULARY
from compgen.tasks.results import finish, machine

TEST_SEED = 10_000  # held-out scenes: a seed no training run uses


def run_discovery(out: Path, dataset: str = "all", steps: int = DENOISER_STEPS, scenes: int = 10_000,
                  test: int = 100, seed: int = 0, levels: int = LEVELS, progress: bool = True,
                  components: int = COMPONENTS, trained: Path | None = None,
                  autoencoder_steps: int = AUTOENCODER_STEPS, decoder: tuple[int, int] = DECODER) -> dict:
    """Train (``autoencoder_steps``, then ``steps`` denoiser steps, of :data:`BATCH` images),
    with a mask decoder of ``decoder`` = (layers, kernel); save the weights and their training
    record beside the results, evaluate. With ``trained``
    (a checkpoint this benchmark wrote, its record beside it), evaluate that model instead of
    training one."""
    out.mkdir(parents=True, exist_ok=True)
    if trained is None:
        model, seconds = train_decomposition(dataset, steps, scenes, seed, progress, components,
                                             autoencoder_steps, decoder)
        name = weights_name(dataset, components)
        weights = out / f"{name}.safetensors"
        save(model, weights)
        write_json(weights.with_suffix(".json"), {
            "command": f"compgen bench discovery --dataset {dataset} --steps {steps} "
                       f"--autoencoder-steps {autoencoder_steps} --components {components} --seed {seed}"
                       + ("" if decoder == DECODER else
                          f" --decoder-layers {decoder[0]} --decoder-kernel {decoder[1]}"),
            "dataset": dataset, "steps": steps, "autoencoder_steps": autoencoder_steps,
            "components": components, "seed": seed,
            "train_scenes": scenes, "cpu_seconds": round(seconds, 1),
            "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__})
    else:
        model, weights = load(trained), trained
        record = json.loads(trained.with_suffix(".json").read_text())
        dataset, steps, autoencoder_steps, components, seed = (
            record[k] for k in ("dataset", "steps", "autoencoder_steps", "components", "seed"))
        scenes, seconds, name = record["train_scenes"], record["cpu_seconds"], trained.stem
    images, held_out = make_scenes(test, dataset, seed=TEST_SEED + seed)
    result = decompose(model, images, seed=seed, levels=levels)
    metrics = discovery_metrics(result, held_out)
    with torch.no_grad():
        x = to_model_space(torch.from_numpy(images))
        metrics["attention_foreground_ari"] = split_foreground_ari(model.attention(x), held_out)
        metrics["mask_foreground_ari"] = split_foreground_ari(model.segmentation(x), held_out)
    config = model.config()
    summary = {"benchmark": "discovery", "dataset": dataset, "autoencoder_steps": autoencoder_steps,
               "decoder": [config["decoder_layers"], config["decoder_kernel"]],
               "steps": steps, "batch": BATCH, "components": components, "train_scenes": scenes,
               "seed": seed, "levels": levels, "reconstruction_guidance": RECONSTRUCTION_GUIDANCE,
               "train_seconds": round(seconds, 1), "weights": weights.name, **metrics, "machine": machine()}
    table = "\n".join([
        f"discovery on {dataset!r}: {autoencoder_steps} autoencoder and {steps} denoiser steps of {BATCH} "
        f"images ({seconds / 60:.1f} min), {test} held-out scenes; reconstructions guided "
        f"(w = {RECONSTRUCTION_GUIDANCE:g}), lone renders not",
        "| reconstruction MSE | reconstruction exact | FG-ARI (renders) | FG-ARI (encoder attention) "
        "| FG-ARI (masks) | coverage |",
        "|---|---|---|---|---|---|",
        f"| {metrics['reconstruction_mse']:.4f} | {metrics['reconstruction_exact']:.2f} | "
        f"{metrics['foreground_ari']:.3f} | {metrics['attention_foreground_ari']:.3f} | "
        f"{metrics['mask_foreground_ari']:.3f} | {metrics['coverage']:.3f} |",
    ])
    tag = name.removeprefix("decomposition_") + (f"_seed{seed}" if seed else "")
    np.savez_compressed(out / f"discovery_{tag}_renders.npz", images=result.images[:8],
                        reconstructions=result.reconstructions[:8], renders=result.renders[:8])
    return finish(out, f"discovery_{tag}", summary, table,
                  lambda _, path: plot_decomposition(result, path))


def plot_decomposition(result: Decomposition, path: Path, rows: int = 8) -> None:
    """Picture grid: per row an image, its reconstruction and each component rendered alone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(rows, len(result.images))
    k = result.renders.shape[1]
    fig, axes = plt.subplots(rows, k + 2, figsize=(1.2 * (k + 2), 1.2 * rows), squeeze=False)
    for i in range(rows):
        pictures = [result.images[i], result.reconstructions[i], *result.renders[i]]
        for j, picture in enumerate(pictures):
            axes[i, j].imshow(picture.transpose(1, 2, 0), interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    for j, title in enumerate(["image", "composed", *[f"comp. {c}" for c in range(k)]]):
        axes[0, j].set_title(title, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# (composition, sampler, guidance): the product plain and with the image models' guidance
# weight, as Decomp Diffusion samples it; the pixel-weighted composition plain
RECOMBINATION_SAMPLERS = (("product", "reverse", 1.0), ("product", "reverse", GUIDANCE),
                          ("product", "mala", GUIDANCE),
                          ("spatial", "reverse", 1.0), ("spatial", "mala", 1.0))
PICTURED = 4  # tests drawn per case


def run_recombination(out: Path, weights: Path, tests: int = 150, seed: int = 0, levels: int = LEVELS,
                      monolithic: Path | None = None) -> dict:
    """Put one object of image B into image A with the models ``bench discovery`` saved in
    ``weights`` (``decomposition_red-green`` and ``decomposition_blue-yellow``), within
    red-green and across the two data sets (A red-green, B blue-yellow); the monolithic
    baseline (a K = 1 model of red-green) only if ``monolithic`` names its checkpoint.
    Exact-union rates per sampler and baseline."""
    out.mkdir(parents=True, exist_ok=True)
    models = {d: load(weights / f"{weights_name(d)}.safetensors") for d in ("red-green", "blue-yellow")}
    whole = load(monolithic) if monolithic is not None else None
    pool = 4 * tests  # held-out scenes the tests draw from
    held = {d: make_scenes(pool, d, seed=TEST_SEED + seed) for d in models}
    summary: dict = {"benchmark": "recombination", "tests": tests, "seed": seed, "levels": levels,
                     "trained_by": {d: _record(weights / f"{weights_name(d)}.json").get("command")
                                    for d in models}}
    rows, shown = [], {}
    for case, (da, db) in {"within red-green": ("red-green", "red-green"),
                           "across data sets": ("red-green", "blue-yellow")}.items():
        (images_a, scenes_a), (images_b, scenes_b) = held[da], held[db]
        if da == db:  # B from the other half of the pool, so A and B are different images
            images_b, scenes_b = images_b[pool // 2:], scenes_b[pool // 2:]
            images_a, scenes_a = images_a[: pool // 2], scenes_a[: pool // 2]
        chosen = recombination_tests(scenes_a, scenes_b, tests, seed)
        parts = recombined_latents(models[da], images_a, scenes_a, models[db], images_b, scenes_b, chosen)
        found = [i for i, p in enumerate(parts) if p is not None]
        result = {"owners_found": len(found) / tests}
        if found:  # one chain per test, each with its own components
            batch = stacked([parts[i] for i in found])
        few = found[:PICTURED]
        shown[case] = [images_a[[chosen[i].a for i in few]], images_b[[chosen[i].b for i in few]]]
        for how, sampler, guidance in RECOMBINATION_SAMPLERS:
            passed = 0
            if found:
                composition = (recombined_composition(models[da], batch.kept, models[db], batch.given,
                                                      guidance) if how == "product" else
                               spatial_composition(models[da], batch.kept, batch.kept_masks, models[db],
                                                   batch.given, batch.given_masks, guidance))
                x, _ = sample_images(composition, len(found), sampler, seed=seed, **_levels(sampler, levels))
                passed = sum(exact(x[j].numpy(), list(chosen[i].target)) for j, i in enumerate(found))
                shown[case].append(x[:PICTURED].numpy())
            result[_column(how, sampler, guidance)] = passed / tests  # tests without owners count as failures
        result["pixel_average"] = _pixel_average(models[da], images_a, models[db], images_b, chosen, seed,
                                                 levels)
        if whole is not None and da == db:
            result["monolithic"] = _whole_images(whole, images_a, images_b, chosen, seed, levels)
        summary[case] = result
        rows.append(f"| {case} | {result['owners_found']:.2f} | "
                    + " | ".join(f"{result[_column(*c)]:.2f}" for c in RECOMBINATION_SAMPLERS)
                    + f" | {result['pixel_average']:.2f} | {result.get('monolithic', float('nan')):.2f} |")
    summary["machine"] = machine()
    table = "\n".join([
        f"recombination: one object of B put into A, {tests} tests; share with exactly the chosen objects",
        "| case | owners found | " + " | ".join(f"composed, {_column(*c)}" for c in RECOMBINATION_SAMPLERS)
        + " | pixel average | monolithic |",
        "|---|---|" + "---|" * len(RECOMBINATION_SAMPLERS) + "---|---|", *rows])
    return finish(out, "recombination", summary, table, lambda _, path: plot_recombination(shown, path))


def plot_recombination(shown: dict, path: Path) -> None:
    """Per case, a row per test: image A, image B, then the composition sampled by each sampler."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["A", "B", *[f"A + B's object\n{_column(*c)}" for c in RECOMBINATION_SAMPLERS]]
    rows = [(case, [column[i] for column in columns]) for case, columns in shown.items()
            for i in range(len(columns[0]))]
    n = max(len(rows), 1)
    fig, axes = plt.subplots(n, len(titles), figsize=(1.5 * len(titles), 1.3 * n), squeeze=False)
    for r, (case, pictures) in enumerate(rows):
        for j, picture in enumerate(pictures):
            axes[r, j].imshow(picture.transpose(1, 2, 0), interpolation="nearest")
        axes[r, 0].set_ylabel(case, fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for j, title in enumerate(titles):
        axes[0, j].set_title(title, fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _record(path: Path) -> dict:
    """The training record beside a checkpoint ({} if there is none)."""
    return json.loads(path.read_text()) if path.exists() else {}


def _column(how: str, sampler: str, guidance: float) -> str:
    return f"{how} {sampler} w={guidance:g}"


def _levels(sampler: str, levels: int) -> dict:
    return {"levels": levels} if sampler == "reverse" else {"levels": max(levels // 2, 2)}


def _pixel_average(model_a, images_a, model_b, images_b, tests, seed: int, levels: int) -> float:
    """Baseline: the mean of A's and B's reconstructions, unguided (the mean of guided ones, w = 2,
    passed less often: 0.05 against 0.10 within red-green, 150 tests)."""
    a = decompose(model_a, images_a[[t.a for t in tests]], seed, levels, alone=False, guidance=1.0)
    b = decompose(model_b, images_b[[t.b for t in tests]], seed + 1, levels, alone=False, guidance=1.0)
    return exact_rate((a.reconstructions + b.reconstructions) / 2, tests)


def _whole_images(whole, images_a, images_b, tests, seed: int, levels: int) -> float:
    """Baseline: a model with one latent per image; A's and B's whole-image components multiplied
    (with guidance, reverse diffusion)."""
    with torch.no_grad():
        za = whole.encode(to_model_space(torch.from_numpy(images_a[[t.a for t in tests]])))
        zb = whole.encode(to_model_space(torch.from_numpy(images_b[[t.b for t in tests]])))
    composition = recombined_composition(whole, za, whole, zb, GUIDANCE)
    x, _ = sample_images(composition, len(tests), "reverse", seed=seed, levels=levels)
    return exact_rate(x.numpy(), tests)


def run_concepts(out: Path, images: int = 150, steps: int = 2000, samples: int = 20, seed: int = 0,
                 levels: int = LEVELS, progress: bool = True) -> dict:
    """Discover 5 concepts in the frozen ``scenes_sentences`` model from unlabeled images of 5
    hidden objects, then from images of two of them; judge them against the hidden classes."""
    from compgen.models.pretrained import load_pretrained

    out.mkdir(parents=True, exist_ok=True)
    model = load_pretrained("scenes_sentences")
    classes = hidden_classes(5, seed)
    summary: dict = {"benchmark": "concepts", "classes": [o.sentence for o in classes], "images": images,
                     "steps": steps, "samples": samples, "guidance": CONCEPT_GUIDANCE, "seed": seed}
    # the reference: the classes' own sentences, sampled as the concepts are
    sentences = vocabulary_conditions()[[VOCABULARY.index(o) for o in classes]]
    summary["sentence_purity"] = [purity(x, o) for x, o in
                                  zip(_concept_samples(model, sentences, samples, seed, levels), classes,
                                      strict=True)]
    pictures = {}
    for per_image in (1, 2):
        pixels, labels = concept_images(classes, images, per_image, seed)
        one = per_image == 1  # single-object images: each takes one concept (softmax weights)
        found, seconds, moved = discover_concepts(model, pixels, len(classes), steps, one_per_image=one,
                                                     seed=seed, progress=progress)
        weights = found.weights.detach().numpy()
        accuracy, match = matched_accuracy(weights, labels)
        conditions = found.conditions.detach()
        names = nearest_sentence(conditions)
        result = {"train_seconds": round(seconds, 1), "moved": moved, "matched_accuracy": accuracy,
                  "match": match.tolist(),
                  "nearest_sentence": [o.sentence for o in names],
                  "named": [bool(c >= 0 and names[m] == classes[c]) for m, c in enumerate(match)]}
        drawn = _concept_samples(model, conditions, samples, seed, levels)
        result["purity"] = [purity(x, classes[c]) if c >= 0 else 0.0
                            for x, c in zip(drawn, match, strict=True)]
        pair = [int(np.argmax(match == 0)), int(np.argmax(match == 1))]  # the concepts of classes 0 and 1
        x, _ = sample_images(concept_composition(model, conditions[pair]), samples, "reverse",
                             seed=seed, levels=levels)
        result["composed_exact"] = float(np.mean([exact(s, [classes[0], classes[1]]) for s in x.numpy()]))
        summary[f"{per_image}_per_image"] = result
        pictures[per_image] = (pixels[:5], np.stack([d[0] for d in drawn]), x.numpy()[:5])
    summary["machine"] = machine()
    rows = []
    for k in (1, 2):
        r = summary[f"{k}_per_image"]
        rows.append(f"| {k} per image | {r['matched_accuracy']:.2f} | {np.mean(r['purity']):.2f} | "
                    f"{sum(r['named'])}/5 | {r['composed_exact']:.2f} |")
    table = "\n".join([
        f"concepts discovered in the frozen scenes_sentences model: {images} unlabeled images, "
        f"{steps} steps; the classes' own sentences sampled alike: purity "
        f"{np.mean(summary['sentence_purity']):.2f}",
        "| images | matched accuracy | purity (mean) | named | classes 0 & 1 composed, exact |",
        "|---|---|---|---|---|", *rows])
    name = "concepts" if seed == 0 else f"concepts_seed{seed}"  # other hidden classes, other files
    return finish(out, name, summary, table, lambda _, path: plot_concepts(pictures, path))


def _concept_samples(model, conditions: torch.Tensor, samples: int, seed: int, levels: int
                     ) -> list[np.ndarray]:
    """Per condition (M, C), ``samples`` images (samples, 3, S, S) of it alone, guided."""
    return [sample_images(concept_composition(model, conditions[m:m + 1]), samples, "reverse",
                          seed=seed + m, levels=levels)[0].numpy() for m in range(len(conditions))]


def plot_concepts(pictures: dict, path: Path) -> None:
    """Per setting: training images, one sample per discovered concept (concept order), samples
    of the concepts matched to classes 0 and 1, composed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3 * len(pictures), 5, figsize=(6, 3.7 * len(pictures)), squeeze=False)
    titles = ["training images", "one sample per concept", "the concepts of classes 0 and 1, composed"]
    for r, (per_image, groups) in enumerate(sorted(pictures.items())):
        for g, group in enumerate(groups):
            row = 3 * r + g
            for j in range(5):
                axes[row, j].axis("off")
                if j < len(group):
                    axes[row, j].imshow(group[j].transpose(1, 2, 0), interpolation="nearest")
            axes[row, 0].set_title(f"{per_image} per image: {titles[g]}", fontsize=7, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
