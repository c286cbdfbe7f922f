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


def test_the_encoder_learns_through_the_denoising_loss_and_the_model_checkpoints(model, tmp_path):
    x = torch.rand(4, model.dim) * 2 - 1
    model.zero_grad()
    model.loss(x, torch.Generator().manual_seed(0)).backward()
    assert model.encoder.initial.grad.abs().sum() > 0 and model.to_latent.weight.grad.abs().sum() > 0
    cg.save(model, tmp_path / "m.safetensors")
    loaded = cg.load(tmp_path / "m.safetensors")
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(x), model.encode(x))
    with pytest.raises(ValueError, match=r"latents must have shape \(B, K, 8\)"):
        model.components(torch.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="expects images of shape"):
        model.encode(torch.zeros(2, 7))


def test_the_discovery_benchmark_runs_at_smoke_size(tmp_path):
    from compgen.cli import main

    main(["bench", "discovery", "--smoke", "--out", str(tmp_path), "--quiet"])
    import json

    result = json.loads((tmp_path / "discovery_all.json").read_text())
    assert result["images"] == 4 and 0 <= result["coverage"] <= 1 and -1 <= result["foreground_ari"] <= 1
    assert (tmp_path / "discovery_all.png").exists() and (tmp_path / "decomposition_all.safetensors").exists()
