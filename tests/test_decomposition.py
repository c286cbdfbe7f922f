"""Discovered components: scenes with masks and backgrounds, the FG-ARI metric, and the
decomposed model's components composing back to its own prediction."""

import numpy as np
import pytest
import torch

import compgen as cg
from compgen.models.decomposed import DecomposedDiffusion
from compgen.tasks.decomposition.data import BACKGROUNDS, DATASETS, make_scenes
from compgen.tasks.decomposition.evaluate import adjusted_rand_index, assign_pixels, foreground_ari
from compgen.tasks.images.detector import exact
from compgen.tasks.images.scenes import COLOURS


def test_masks_cover_exactly_the_object_pixels_and_the_detector_ignores_backgrounds():
    images, scenes = make_scenes(300, "all", seed=4)
    assert {s.background for s in scenes} == set(BACKGROUNDS)
    for image, scene in zip(images, scenes, strict=True):
        masks = scene.masks
        assert masks.sum(0).max() <= 1  # disjoint
        for obj, mask in zip(scene.objects, masks, strict=True):
            assert mask.sum() >= 31 and np.allclose(image[:, mask].T, COLOURS[obj.colour])
        assert np.allclose(image[:, ~masks.any(0)].T, BACKGROUNDS[scene.background])
        assert exact(image, list(scene.objects))


def test_the_two_data_sets_share_no_colour():
    seen = {name: {o.colour for s in make_scenes(200, name, seed=1)[1] for o in s.objects}
            for name in ("red-green", "blue-yellow")}
    assert all(seen[name] == set(DATASETS[name]) for name in seen)
    assert not seen["red-green"] & seen["blue-yellow"]


def test_adjusted_rand_index_on_hand_computed_cases():
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([5, 5, 2, 2])) == 1.0  # relabelled
    # contingency [[2, 0], [1, 1]]: index 1, expected 2 * 3 / 6 = 1, so ARI 0
    assert adjusted_rand_index(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1])) == 0.0
    # [[2, 1], [0, 3]]: index 1 + 3 = 4, rows 3 + 3, cols 1 + 6, expected 42 / 15, max 6.5
    assert adjusted_rand_index(np.array([0, 0, 0, 1, 1, 1]), np.array([0, 0, 1, 1, 1, 1])) == \
        pytest.approx((4 - 42 / 15) / (6.5 - 42 / 15))
    assert adjusted_rand_index(np.zeros(5, int), np.zeros(5, int)) == 1.0


def test_foreground_ari_is_one_for_renders_of_single_objects_and_low_for_one_render_of_all():
    _, scenes = make_scenes(40, "all", seed=2)
    scenes = [s for s in scenes if len(s.objects) >= 2]
    for scene in scenes:
        background = np.broadcast_to(np.array(BACKGROUNDS[scene.background], np.float32)[:, None, None],
                                     scene.image.shape)
        perfect = np.stack([np.where(m, scene.image, background) for m in scene.masks] + [background])
        assert foreground_ari(scene, perfect) == 1.0
        merged = np.stack([scene.image, background])
        assert (assign_pixels(scene.image, merged)[scene.masks.any(0)] == 0).all()
        assert foreground_ari(scene, merged) == 0.0


@pytest.fixture(scope="module")
def model():
    return DecomposedDiffusion(components=3, latent_dim=8, width=8, depth=1, encoder_width=8, init_seed=1)


def test_the_product_of_the_components_is_the_models_prediction(model):
    x = torch.randn(5, model.dim)
    with torch.no_grad():
        latents = model.encode(x)
        t = 0.4
        sigma = model.schedule.sigma(torch.tensor(t))
        want = -model.predict_noise(x, t, latents) / sigma
        # one latent set per chain: batched into one call of the denoiser
        got = model.composition(latents).score(x, t)
        one_by_one = sum(c.score(x, t) for c in model.components(latents))
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(one_by_one, want, atol=1e-4, rtol=1e-4)
    # one image's components take any number of chains
    single = model.composition(latents[0])
    torch.testing.assert_close(single.score(x[:1].expand(3, -1), t)[0], want[0], atol=1e-4, rtol=1e-4)


def test_the_autoencoder_stage_trains_encoder_and_mask_decoder_and_nothing_else(model):
    x = torch.rand(2, model.dim) * 2 - 1
    mixed, masks = model.mixture(model.encode(x))
    assert mixed.shape == x.shape and masks.shape == (2, 3, 24 * 24)
    torch.testing.assert_close(masks.sum(1), torch.ones(2, 24 * 24))
    with torch.no_grad():
        torch.testing.assert_close(model.segmentation(x), masks)
    model.zero_grad(set_to_none=True)
    loss = model.autoencoder_loss(x)
    torch.testing.assert_close(loss, ((mixed - x) ** 2).sum(-1).mean())
    loss.backward()
    stage = {id(p) for p in model.autoencoder().parameters()}
    for p in model.parameters():  # gradients exactly on the stage's parameters
        assert (p.grad is not None and p.grad.abs().sum() > 0) == (id(p) in stage)
    assert not stage & {id(p) for p in model.denoiser.parameters()}
    assert repr(model.autoencoder()) == f"{model!r}.autoencoder"


def test_the_denoising_stage_takes_latents_as_data_and_trains_the_denoiser_only(model):
    x = torch.rand(4, model.dim) * 2 - 1
    latents = model.encode(x)  # still attached to the encoder's graph
    model.zero_grad(set_to_none=True)
    model.denoising_loss(x, latents, torch.Generator().manual_seed(0)).backward()
    assert all(p.grad is None for p in model.autoencoder().parameters())
    assert model.denoiser.net.unet.conv_in.weight.grad.abs().sum() > 0
    # the mean image's noise error through these latents, those of dropped images zeroed
    got = model.denoising_loss(x, latents, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    keep = torch.rand(4, generator=gen) >= model.cond_dropout
    t, eps, x_t = model.schedule.noised(x, gen)
    want = model.denoiser.noise_loss(t, model.predict_noise(x_t, t, latents * keep[:, None, None]), eps)
    torch.testing.assert_close(got, want)


def test_training_runs_the_autoencoder_then_the_denoiser_on_its_frozen_latents():
    from compgen.tasks.decomposition.models import train_decomposition

    short, _ = train_decomposition("red-green", 1, scenes=32, progress=False, autoencoder_steps=2)
    longer, _ = train_decomposition("red-green", 3, scenes=32, progress=False, autoencoder_steps=2)
    a, b = short.state_dict(), longer.state_dict()
    same = {k for k in a if torch.equal(a[k], b[k])}
    assert {k for k in a if not k.startswith("denoiser.")} <= same  # more denoiser steps move only it
    assert any(not k.startswith("denoiser.") for k in a) and any(k not in same for k in a)


def test_the_broadcast_condition_map_lets_the_condition_move_single_pixels():
    from compgen.models.image import ImageUNet

    with pytest.raises(ValueError, match="condition_map must be"):
        ImageUNet(3, 8, 16, width=8, depth=1, condition_map="fine")
    net = ImageUNet(3, 8, 16, width=8, depth=1, condition_map="broadcast")
    features = torch.cat([torch.zeros(2, 3 * 64), torch.randn(2, 16)], dim=1)
    assert net(features).shape == (2, 3 * 64)


def test_the_model_checkpoints_and_rejects_bad_shapes(model, tmp_path):
    x = torch.rand(4, model.dim) * 2 - 1
    cg.save(model, tmp_path / "m.safetensors")
    loaded = cg.load(tmp_path / "m.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x), model.encode(x))
        torch.testing.assert_close(loaded.predict_noise(x, 0.3, model.encode(x)),
                                   model.predict_noise(x, 0.3, model.encode(x)))
    # the mask decoder's size is part of the config: a deeper one comes back as it was saved
    deep = DecomposedDiffusion(components=2, latent_dim=8, width=8, depth=1, encoder_width=8,
                               decoder_layers=4, decoder_kernel=5, init_seed=2)
    cg.save(deep, tmp_path / "deep.safetensors")
    back = cg.load(tmp_path / "deep.safetensors")
    assert back.decoder.net[1].kernel_size == (5, 5) and len(back.decoder.net) == 8
    with torch.no_grad():
        torch.testing.assert_close(back.mixture(deep.encode(x))[0], deep.mixture(deep.encode(x))[0])
    with pytest.raises(ValueError, match="odd decoder_kernel"):
        DecomposedDiffusion(components=2, latent_dim=8, width=8, depth=1, decoder_kernel=4)
    with pytest.raises(ValueError, match=r"latents must have shape \(B, K, 8\)"):
        model.components(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="expects images of shape"):
        model.encode(torch.zeros(2, 7))


def test_the_discovery_benchmark_runs_at_smoke_size(tmp_path):
    from compgen.cli import main

    main(["bench", "discovery", "--smoke", "--out", str(tmp_path), "--quiet", "--decoder-layers", "4",
          "--decoder-kernel", "5"])
    import json

    result = json.loads((tmp_path / "discovery_all.json").read_text())
    assert result["images"] == 4 and 0 <= result["coverage"] <= 1 and -1 <= result["foreground_ari"] <= 1
    # a non-default mask decoder is built, recorded, and named in the command that retrains it
    assert result["decoder"] == [4, 5]
    record = json.loads((tmp_path / "decomposition_all.json").read_text())
    assert record["command"].endswith("--decoder-layers 4 --decoder-kernel 5")
    assert (tmp_path / "discovery_all.png").exists() and (tmp_path / "decomposition_all.safetensors").exists()


def test_owners_are_the_components_that_take_one_object_each():
    from compgen.tasks.decomposition.recombine import owners

    images, scenes = make_scenes(30, "red-green", seed=5)
    i = next(i for i, s in enumerate(scenes) if len(s.objects) == 2)
    masks = scenes[i].masks

    class Split:  # a model whose segmentation is given: object 0 -> latent 2, object 1 -> latent 0
        k = 3

        def __init__(self, labels):
            self.labels = labels

        def segmentation(self, x):
            return torch.nn.functional.one_hot(torch.from_numpy(self.labels).flatten(), 3).T[None].float()

    labels = np.ones((24, 24), int)
    labels[masks[0]], labels[masks[1]] = 2, 0
    assert owners(Split(labels), images[i:i + 1], scenes[i:i + 1]) == [[2, 0]]
    labels[masks[1]] = 2  # one latent takes both: neither object has an owner
    assert owners(Split(labels), images[i:i + 1], scenes[i:i + 1]) == [[None, None]]


def test_recombination_tests_put_an_object_at_a_free_place():
    from compgen.tasks.decomposition.recombine import recombination_tests

    _, a = make_scenes(40, "red-green", seed=6)
    _, b = make_scenes(40, "blue-yellow", seed=7)
    for t in recombination_tests(a, b, 30, seed=1):
        assert len(a[t.a].objects) <= 2 and b[t.b].objects[t.b_object] not in a[t.a].objects
        assert t.target == (*a[t.a].objects, b[t.b].objects[t.b_object])
        assert len({o.place for o in t.target}) == len(t.target)


def test_matched_accuracy_finds_the_permutation_of_concepts():
    from compgen.tasks.decomposition.concepts import matched_accuracy

    labels = np.array([0, 1, 2, 3, 4] * 4)[:, None]
    perm = np.array([3, 0, 4, 1, 2])  # concept m stands for class perm[m]
    weights = np.eye(5)[np.argsort(perm)[labels[:, 0]]] + 0.01
    accuracy, match = matched_accuracy(weights, labels)
    assert accuracy == 1.0 and (match == perm).all()
    weights[:4] = weights[4:8]  # four images now pick another class's concept
    assert matched_accuracy(weights, labels)[0] == pytest.approx(16 / 20)
    pairs = np.array([[0, 1], [2, 3], [4, 0], [1, 3]])
    two = np.zeros((4, 5))
    for row, pair in zip(two, pairs, strict=True):
        row[np.argsort(perm)[pair]] = 1
    accuracy, match = matched_accuracy(two, pairs)
    assert accuracy == 1.0 and (match == perm).all()


def test_concepts_stay_in_the_span_of_the_vocabulary_at_its_norm():
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.decomposition.concepts import Concepts
    from compgen.tasks.images.models import vocabulary_conditions

    vocabulary = vocabulary_conditions()
    found = Concepts(load_pretrained("scenes_sentences"), 6, vocabulary, seed=2)
    start = found.scale * torch.nn.functional.normalize(found.vectors, dim=1)
    assert (found.conditions - start).norm(dim=1).max() < 0.05  # vocabulary conditions, norm ~20
    with torch.no_grad():
        found.vectors.normal_()  # anywhere: the model reads the part inside the span, at the norm
    c = found.conditions
    assert torch.allclose(c.norm(dim=1), torch.full((5,), found.scale), rtol=1e-5)
    inside = torch.linalg.lstsq(vocabulary.T, c.T).solution
    assert torch.allclose(vocabulary.T @ inside, c.T, atol=1e-3)
    assert torch.allclose(found.weights.sum(1), torch.ones(6))  # one concept per image: a softmax
    with pytest.raises(ValueError, match="vocabulary must be"):
        Concepts(load_pretrained("scenes_sentences"), 6, vocabulary[:, :10])


def test_concepts_move_to_the_sentence_that_explains_their_images_better():
    from compgen.models.pretrained import load_pretrained
    from compgen.tasks.decomposition.concepts import Concepts
    from compgen.tasks.images.models import to_model_space, vocabulary_conditions
    from compgen.tasks.images.scenes import VOCABULARY, render

    vocabulary = vocabulary_conditions()
    drawn, other, wrong = VOCABULARY[5], VOCABULARY[100], VOCABULARY[50]
    assert len({drawn.colour, other.colour, wrong.colour}) == 3
    x = to_model_space(torch.from_numpy(np.stack([render([drawn])] * 4 + [render([other])] * 4)))
    found = Concepts(load_pretrained("scenes_sentences"), 8, vocabulary, seed=0)
    with torch.no_grad():
        found.vectors[0] = vocabulary[5]  # the first images' own sentence: nothing does better
        found.vectors[1] = vocabulary[50]  # a third object's: dead on the other images
        found.logits.fill_(-5.0)
        found.logits[:4, 0] = found.logits[4:, 1] = 5.0  # concepts 2-4 are nobody's top concept
    kept = found.vectors[0].clone()
    assert found.reseed(x) == [1, 2, 3, 4]
    assert torch.equal(found.vectors[0], kept)
    assert torch.equal(found.vectors[1], vocabulary[100])  # the sentence of the images it holds
    for m in (2, 3, 4):  # nobody's: moved where the images are, to one of their two sentences
        assert any(torch.equal(found.vectors[m], vocabulary[i]) for i in (5, 100))


def test_decompose_and_recombine_commands_on_scene_files(tmp_path, capsys):
    from compgen.cli import main

    path = tmp_path / "m.safetensors"
    cg.save(DecomposedDiffusion(components=3, latent_dim=8, width=8, depth=1, encoder_width=8), path)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    main(["decomposition-scene", "--seed", "3", "--out", str(a)])
    main(["decomposition-scene", "--dataset", "blue-yellow", "--out", str(b)])
    main(["decompose", str(a), "--model", str(path), "--out", str(tmp_path / "d.png")])
    out = capsys.readouterr().out
    assert "component 2 (" in out and (tmp_path / "d.png").exists()
    main(["recombine", str(a), str(b), "--take", "0,1", "--take-b", "2", "--model", str(path),
          "--samples", "2", "--set", "levels=3", "--out", str(tmp_path / "r.png")])
    assert "sample 1:" in capsys.readouterr().out and (tmp_path / "r.png").exists()
    main(["recombine", str(a), str(b), "--take", "0", "--take-b", "1,2", "--model", str(path),
          "--composition", "product", "--samples", "1", "--set", "levels=3",
          "--out", str(tmp_path / "p.png")])
    assert "sample 0:" in capsys.readouterr().out and (tmp_path / "p.png").exists()
    with pytest.raises(SystemExit):
        main(["recombine", str(a), str(b), "--take", "0,7", "--take-b", "2", "--model", str(path)])
    assert "--take expects distinct component numbers in 0..2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["decompose", str(tmp_path / "d.png"), "--model", str(path)])
    assert "expected a 24 x 24 RGB image" in capsys.readouterr().err


def test_the_recombination_benchmark_runs_at_smoke_size(tmp_path):
    import json

    from compgen.cli import main
    from compgen.tasks.decomposition.models import weights_name

    for dataset in ("red-green", "blue-yellow"):
        cg.save(DecomposedDiffusion(components=4, latent_dim=8, width=8, depth=1, encoder_width=8),
                tmp_path / f"{weights_name(dataset)}.safetensors")
    whole = tmp_path / "k1.safetensors"
    cg.save(DecomposedDiffusion(components=1, latent_dim=8, width=8, depth=1, encoder_width=8), whole)
    main(["bench", "recombination", "--smoke", "--weights", str(tmp_path), "--monolithic", str(whole),
          "--out", str(tmp_path / "r"), "--quiet"])
    result = json.loads((tmp_path / "r" / "recombination.json").read_text())
    assert 0 <= result["within red-green"]["monolithic"] <= 1
    across = result["across data sets"]
    assert 0 <= across["spatial reverse w=1"] <= across["owners_found"] <= 1
    assert (tmp_path / "r" / "recombination.png").exists()


def test_the_concepts_benchmark_runs_at_smoke_size(tmp_path):
    import json

    from compgen.cli import main

    main(["bench", "concepts", "--smoke", "--out", str(tmp_path / "c"), "--quiet"])
    result = json.loads((tmp_path / "c" / "concepts.json").read_text())
    assert len(result["1_per_image"]["purity"]) == 5 and (tmp_path / "c" / "concepts.png").exists()


def test_a_recombination_is_the_product_and_its_guided_form_extrapolates_from_the_null(model):
    from compgen.tasks.decomposition.recombine import recombined_composition

    x = torch.randn(4, model.dim)
    with torch.no_grad():
        z = model.encode(x)
        product = model.composition(z).score(x, 0.5)
        plain = recombined_composition(model, z[:, :2], model, z[:, 2:]).score(x, 0.5)
        guided = recombined_composition(model, z[:, :2], model, z[:, 2:], guidance=3.0).score(x, 0.5)
        null = model.denoiser.score(x, 0.5, torch.zeros(model.latent_dim))
    torch.testing.assert_close(plain, product)
    torch.testing.assert_close(guided, null + 3 * (product - null), atol=1e-4, rtol=1e-4)
    # one model's guided reconstruction is the same formula
    with torch.no_grad():
        own = model.composition(z, guidance=3.0).score(x, 0.5)
    torch.testing.assert_close(own, guided, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="guidance must be > 0"):
        model.composition(z, guidance=0.0)


def test_a_spatial_recombination_gives_each_pixel_to_the_component_whose_object_it_is(model):
    from compgen.tasks.decomposition.recombine import spatial_composition

    x = torch.randn(2, model.dim)
    pixels = model.size ** 2
    given_mask = torch.zeros(2, 1, pixels)
    given_mask[:, 0, :100] = 1.0  # B's object: the first 100 pixels
    kept_mask = torch.softmax(torch.randn(2, 2, pixels), 1)
    with torch.no_grad():
        z = model.encode(x)
        for guidance in (1.0, 3.0):
            score = spatial_composition(model, z[:, :2], kept_mask, model, z[:, 2:], given_mask,
                                        guidance).score(x, 0.5)
            null = model.denoiser.score(x, 0.5, torch.zeros(model.latent_dim))
            each = [null + guidance * (model.denoiser.score(x, 0.5, z[:, j]) - null) for j in range(3)]
            weights = torch.cat([kept_mask * (1 - given_mask), given_mask], 1).repeat(1, 1, model.channels)
            expected = sum(weights[:, j] * each[j] for j in range(3))
            torch.testing.assert_close(score, expected, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="masks must hold one row per latent"):
        spatial_composition(model, z[:, :2], kept_mask[:, :1], model, z[:, 2:], given_mask)
