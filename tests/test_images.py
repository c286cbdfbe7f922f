"""Issue 5: scenes, the detector, guided products over conditions, diffusers UNets as components."""

import re

import numpy as np
import pytest
import torch

import compgen as cg
from compgen.algebra import guided
from compgen.tasks.images.detector import correct, detect, exact
from compgen.tasks.images.scenes import (
    PLACES,
    SHAPES,
    SceneObject,
    held_out,
    make_scenes,
    paragraph,
    parse,
    random_scene,
    render,
)
from conftest import cli_error


def test_scenes_are_deterministic_and_respect_the_split():
    a_images, a_scenes = make_scenes(50, seed=3)
    b_images, b_scenes = make_scenes(50, seed=3)
    c_images, _ = make_scenes(50, seed=4)
    assert np.array_equal(a_images, b_images) and a_scenes == b_scenes
    assert not np.array_equal(a_images, c_images)
    assert a_images.shape == (50, 3, 24, 24) and a_images.min() == 0 and a_images.max() == 1
    assert not any(held_out(s) for s in a_scenes)
    _, held = make_scenes(20, seed=0, split="held_out")
    assert all(held_out(s) for s in held)
    assert all(1 <= len(s) <= 5 and len({o.place for o in s}) == len(s) for s in a_scenes)
    with pytest.raises(ValueError, match="n must be >= 2"):  # one object cannot be red and blue
        random_scene(np.random.default_rng(0), 1, split="held_out")


def test_sentences_name_every_attribute():
    obj = SceneObject("triangle", "red", PLACES.index("top left"))
    assert obj.sentence == "a red triangle in the top left"
    assert SceneObject("circle", "blue", PLACES.index("bottom")).sentence == "a blue circle at the bottom"
    assert paragraph([obj, obj]) == f"{obj.sentence} and {obj.sentence}"


def test_detector_is_exact_on_ground_truth_renders():
    images, scenes = make_scenes(500, seed=11, split="any")
    assert all(exact(i, s) for i, s in zip(images, scenes, strict=True))
    # every shape in every place and colour is recognised on its own
    for shape in SHAPES:
        for place in range(9):
            obj = SceneObject(shape, "green", place)
            assert correct(render([obj]), [obj])


def test_detector_rejects_what_is_not_there():
    red = SceneObject("circle", "red", 0)
    image = render([red])
    assert not correct(image, [SceneObject("square", "red", 0)])  # wrong shape
    assert not correct(image, [SceneObject("circle", "blue", 0)])  # wrong colour
    assert not correct(image, [SceneObject("circle", "red", 4)])  # wrong place
    assert not correct(image, [red, SceneObject("circle", "red", 8)])  # one of two missing
    assert detect(np.zeros((3, 24, 24), dtype=np.float32)) == []


def _guided_parts(model, conditions, weights):
    """The same density as guided(), built from the algebra one condition at a time."""
    parts = [model.given(model.null_condition) ** float(1 - sum(weights))]
    parts += [model.given(c) ** float(w) for c, w in zip(conditions, weights, strict=True)]
    return cg.Product(parts)


@pytest.mark.parametrize("kind", [cg.ScoreDiffusion, cg.EnergyDiffusion])
def test_guided_batched_equals_one_condition_at_a_time(kind):
    model = kind(3, hidden=16, layers=2, cond_dim=4, init_seed=1)
    conditions, weights = torch.randn(3, 4), [2.0, 1.5, -0.5]
    composed = guided(model, conditions, weights)
    x, t = torch.randn(7, 3), torch.rand(7) * 0.9 + 0.05
    calls = []
    handle = model.net.register_forward_hook(lambda *_: calls.append(1))
    e_guided, s_guided = composed.energy_and_score(x, t)
    handle.remove()
    assert len(calls) == 1  # every condition in one forward pass
    e_parts, s_parts = _guided_parts(model, conditions, weights).energy_and_score(x, t)
    torch.testing.assert_close(s_guided, s_parts, rtol=1e-4, atol=1e-5)
    if model.has_energy:
        torch.testing.assert_close(e_guided, e_parts, rtol=1e-4, atol=1e-4)
    else:
        assert e_guided is None


def test_guided_rejects_bad_conditions():
    model = cg.ScoreDiffusion(3, hidden=8, layers=1, cond_dim=4)
    with pytest.raises(ValueError, match=r"conditions must have shape \(K, 4\)"):
        guided(model, torch.randn(2, 5), 1.0)
    with pytest.raises(ValueError, match="weights"):
        guided(model, torch.randn(2, 4), [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="null_condition"):
        guided(cg.ScoreDiffusion(3, hidden=8, layers=1), torch.randn(2, 4), 1.0)


def _tiny_unet(conditional: bool):
    from diffusers import UNet2DConditionModel, UNet2DModel

    torch.manual_seed(0)
    if conditional:
        return UNet2DConditionModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                                    block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=6,
                                    attention_head_dim=4,
                                    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    return UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                       block_out_channels=(8, 16), norm_num_groups=4,
                       down_block_types=("DownBlock2D", "DownBlock2D"),
                       up_block_types=("UpBlock2D", "UpBlock2D"))


def test_diffusers_unet_maps_noise_levels_and_converts_predictions():
    from diffusers import DDPMScheduler

    from compgen.models.diffusers_unet import DiffusersUNet

    unet, scheduler = _tiny_unet(False), DDPMScheduler(num_train_timesteps=1000)
    model = DiffusersUNet(unet, scheduler)
    assert model.dim == 3 * 8 * 8 and not model.has_energy
    abar = scheduler.alphas_cumprod.double()
    for k in (0, 10, 500, 999):  # compgen's level with the scheduler's log-SNR maps back to k
        t = model.schedule.t_from_log_snr(torch.log(abar[k] / (1 - abar[k])))
        assert model.timestep(t[None]).item() == pytest.approx(k, abs=1e-3)
    assert model.t_min == pytest.approx(
        model.schedule.t_from_log_snr(torch.log(abar[0] / (1 - abar[0]))).item())
    x, t = torch.randn(4, model.dim), 0.3
    with torch.no_grad():
        eps = unet(x.view(4, 3, 8, 8), model.timestep(torch.full((4,), t))).sample.reshape(4, -1)
    sigma = model.schedule.sigma(torch.tensor(t))
    torch.testing.assert_close(model.score(x, t), -eps / sigma)
    v_model = DiffusersUNet(unet, DDPMScheduler(num_train_timesteps=1000, prediction_type="v_prediction"))
    alpha = model.schedule.alpha(torch.tensor(t))
    torch.testing.assert_close(v_model.predict_noise(x, t), alpha * eps + sigma * x, rtol=1e-4, atol=1e-5)


def test_diffusers_conditional_unet_composes_and_samples():
    from diffusers import DDIMScheduler

    from compgen.models.diffusers_unet import DiffusersUNet

    model = DiffusersUNet(_tiny_unet(True), DDIMScheduler(num_train_timesteps=1000),
                          null_condition=torch.zeros(2, 6))
    conditions, weights = torch.randn(2, 2, 6), [3.0, 2.0]
    x = torch.randn(5, model.dim)
    composed = guided(model, conditions, weights)
    parts = _guided_parts(model, conditions, weights)
    torch.testing.assert_close(composed.score(x, 0.4), parts.score(x, 0.4), rtol=1e-4, atol=1e-4)
    result = cg.sample(composed, n=3, sampler="reverse", levels=4, generator=torch.Generator().manual_seed(0))
    assert result.x.shape == (3, model.dim) and torch.isfinite(result.x).all()
    with pytest.raises(ValueError, match="leading dimension"):
        model.score(x, 0.4, cond=torch.randn(2, 2, 6))


def test_image_model_checkpoint_round_trip(tmp_path):
    from compgen.tasks.images.models import image_model

    model = image_model("sentences", seed=2)
    path = cg.save(model, tmp_path / "m.safetensors")
    loaded = cg.load(path)
    x, cond = torch.randn(2, model.dim), torch.randn(2, 384)
    with torch.no_grad():
        torch.testing.assert_close(loaded.score(x, 0.5, cond), model.score(x, 0.5, cond))


def test_sentences_parse_back_to_their_objects():
    for obj in (SceneObject("triangle", "yellow", 8), SceneObject("square", "green", 4)):
        assert parse(obj.sentence) == obj
    assert parse("  A red circle   in the TOP LEFT ") == SceneObject("circle", "red", 0)
    with pytest.raises(ValueError, match="expected 'a <colour> <shape> <where>'"):
        parse("a purple circle in the top left")


def test_tapestry_windows_read_the_canvas_where_they_sit():
    from compgen.tasks.images.tapestry import Layout, Region, window_indices

    layout = Layout.from_objects(24, 48, [("circle", "red", 0, 0), ("square", "blue", 2, 3)])
    assert [(r.top, r.left) for r in layout.regions] == [(0, 0), (0, 8), (0, 16), (0, 24)]
    # windows every 8 pixels; each names the objects inside it in its own places
    assert layout.regions[0].sentences == ("a red circle in the top left",)
    assert layout.regions[1].sentences == ("a blue square in the bottom right",)
    assert layout.regions[3].sentences == ("a blue square in the bottom left",)
    canvas = np.random.default_rng(0).random((3, 24, 48)).astype(np.float32)
    for region in layout.regions:
        window = canvas.reshape(-1)[window_indices(layout, region).numpy()].reshape(3, 24, 24)
        assert np.array_equal(window, canvas[:, :, region.left:region.left + 24])
    with pytest.raises(ValueError, match="multiple of 8"):
        Layout(24, 48, (Region(0, 4),))
    with pytest.raises(ValueError, match="cannot read"):
        Layout(24, 48, (Region(0, 0, ("a red blob",)),))


def test_image_cli_smoke(tmp_path, capsys):
    from compgen.cli import main
    from compgen.tasks.images.models import image_model

    path = cg.save(image_model("sentences", seed=0), tmp_path / "untrained.safetensors")
    out = tmp_path / "image.png"
    main(["image", "a red circle in the top left", "a blue square at the bottom", "--negate",
          "a green triangle in the center", "--model", str(path), "--n", "2", "--set", "levels=3",
          "--out", str(out), "--quiet"])
    assert out.stat().st_size > 0
    assert "of 2 images show every requested object" in capsys.readouterr().out
    assert "cannot read" in cli_error(capsys, ["image", "a red thing", "--model", str(path)])


def test_image_cli_uses_the_shipped_sentence_model(tmp_path, capsys):
    from compgen.cli import main

    out = tmp_path / "shipped.png"
    main(["image", "a red circle in the top left", "--n", "2", "--set", "levels=3", "--out", str(out),
          "--quiet"])
    printed = capsys.readouterr().out
    found, only = (int(m) for m in re.findall(r"(\d) of 2 (?:images )?show", printed))
    assert out.stat().st_size > 0 and only <= found  # exact scenes are counted beside "requested present"


def test_v_prediction_turns_the_network_output_into_noise():
    model = cg.ScoreDiffusion(4, hidden=8, layers=1, prediction="v", init_seed=3)
    x, t = torch.randn(5, 4), torch.tensor(0.4)
    alpha, sigma = model.schedule.alpha(t), model.schedule.sigma(t)
    v = model.net(model._features(x, 0.4, None))
    torch.testing.assert_close(model.predict_noise(x, 0.4), alpha * v + sigma * x)
    torch.testing.assert_close(model.score(x, 0.4), -(alpha * v + sigma * x) / sigma)
    with pytest.raises(ValueError, match="prediction must be 'eps' or 'v'"):
        cg.ScoreDiffusion(4, prediction="x0")


def test_v_models_are_trained_on_v():
    from compgen.training import dsm_loss

    model = cg.ScoreDiffusion(4, hidden=8, layers=1, prediction="v", init_seed=3)
    x0 = torch.randn(6, 4)
    loss = dsm_loss(model, x0, None, torch.Generator().manual_seed(1))
    # redraw the same t and noise, and measure the error of the raw network output in v
    gen = torch.Generator().manual_seed(1)
    hi, lo = model.schedule.log_snr(torch.tensor([1e-3, 1.0])).tolist()
    t = model.schedule.t_from_log_snr(lo + (hi - lo) * torch.rand(6, generator=gen))
    eps = torch.randn(x0.shape, generator=gen)
    alpha, sigma = model.schedule.alpha(t)[:, None], model.schedule.sigma(t)[:, None]
    v_hat = model.net(model._features(alpha * x0 + sigma * eps, t, None))
    expected = ((v_hat - (alpha * eps - sigma * x0)) ** 2).sum(-1).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-5)
