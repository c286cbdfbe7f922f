"""The temporal U-Net body: step-major layout, both parameterizations, checkpoints, errors."""

import pytest
import torch

import compgen as cg
from compgen.checkpoint import load, save


@pytest.mark.parametrize("kind", [cg.EnergyDiffusion, cg.ScoreDiffusion])
def test_temporal_unet_shapes_and_locality(kind):
    model = kind(dim=16 * 3, backbone="temporal_unet", channels=3, hidden=16, layers=2)
    x = torch.randn(5, 48, generator=torch.Generator().manual_seed(0))
    eps = model.predict_noise(x, 0.3)
    assert eps.shape == (5, 48) and torch.isfinite(eps).all()
    energy, score = model.energy_and_score(x, 0.3)
    assert score.shape == (5, 48)
    assert (energy is None) == (kind is cg.ScoreDiffusion)
    # rows are independent: changing chain 0 leaves chain 1's output alone
    x2 = x.clone()
    x2[0] += 1.0
    torch.testing.assert_close(model.predict_noise(x2, 0.3)[1:], eps[1:])


def test_temporal_energy_score_is_its_gradient():
    model = cg.EnergyDiffusion(dim=8 * 2, backbone="temporal_unet", channels=2, hidden=8, layers=1)
    x = torch.randn(3, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    model = model.double()
    energy, score = model.energy_and_score(x, 0.2)
    h = 1e-6
    for i in (0, 7, 15):
        e = torch.zeros(16, dtype=torch.float64)
        e[i] = h
        numeric = (model.energy(x + e, 0.2) - model.energy(x - e, 0.2)) / (2 * h)
        torch.testing.assert_close(-numeric, score[:, i], rtol=1e-5, atol=1e-6)
    assert energy.shape == (3,)


def test_temporal_checkpoint_roundtrip(tmp_path):
    model = cg.EnergyDiffusion(dim=32, backbone="temporal_unet", channels=4, hidden=8, layers=1,
                               cond_dim=3, name="window")
    save(model, tmp_path / "w.safetensors")
    loaded = load(tmp_path / "w.safetensors")
    x, c = torch.randn(2, 32), torch.randn(2, 3)
    torch.testing.assert_close(loaded.energy(x, 0.5, cond=c), model.energy(x, 0.5, cond=c))
    assert loaded.backbone == "temporal_unet" and loaded.channels == 4


def test_temporal_errors():
    with pytest.raises(ValueError, match="channels must be given exactly for backbone='temporal_unet'"):
        cg.EnergyDiffusion(dim=30, backbone="temporal_unet")
    with pytest.raises(ValueError, match="divide dim=30"):
        cg.EnergyDiffusion(dim=30, backbone="temporal_unet", channels=4)
    with pytest.raises(ValueError, match="horizon 6 must be divisible by 2 \\*\\* depth = 4"):
        cg.EnergyDiffusion(dim=12, backbone="temporal_unet", channels=2, layers=2, hidden=8)
    with pytest.raises(ValueError, match="backbone must be 'mlp', 'temporal_unet' or 'unet2d'"):
        cg.EnergyDiffusion(dim=4, backbone="transformer")
