"""Checkpoints round trip and refuse bad files; training is deterministic and learns."""

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import compgen as cg
from compgen.data import toy2d


@pytest.mark.parametrize("cls,kw", [(cg.EnergyDiffusion, {}), (cg.ScoreDiffusion, {"num_classes": 3}),
                                    (cg.EnergyDiffusion, {"cond_dim": 4, "hidden": 32, "layers": 2})])
def test_round_trip(tmp_path, cls, kw, gen):
    m = cls(dim=2, name="m", **kw)
    path = cg.save(m, tmp_path / "m.safetensors")
    m2 = cg.load(path)
    assert type(m2) is cls and m2.config() == m.config()
    x = torch.randn(6, 2, generator=gen)
    cond = None if not m.conditional else (1 if kw.get("num_classes") else torch.ones(4))
    torch.testing.assert_close(m2.score(x, 0.3, cond), m.score(x, 0.3, cond))
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temp file left


def test_gaussian_mixture_round_trip(tmp_path, gen):
    ring = toy2d.ring()
    r2 = cg.load(cg.save(ring, tmp_path / "ring.safetensors"))
    x = torch.randn(5, 2, generator=gen)
    torch.testing.assert_close(r2.energy(x, 0.2), ring.energy(x, 0.2))
    assert repr(r2) == "ring"


def test_corrupt_and_foreign_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00\x01 this is not a checkpoint")
    with pytest.raises(cg.CheckpointError, match="bad.safetensors is not a readable safetensors file"):
        cg.load(bad)
    with pytest.raises(cg.CheckpointError, match="no checkpoint at"):
        cg.load(tmp_path / "missing.safetensors")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(cg.CheckpointError, match="is not a compgen checkpoint"):
        cg.load(foreign)


def test_truncated_file(tmp_path):
    path = cg.save(cg.EnergyDiffusion(dim=2), tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(cg.CheckpointError, match="not a readable safetensors file"):
        cg.load(path)


def _rewrite_metadata(path, **changes):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    meta.update(changes)
    save_file(load_file(str(path)), str(path), metadata=meta)


def test_incompatible_version_and_config(tmp_path):
    path = cg.save(cg.EnergyDiffusion(dim=2), tmp_path / "m.safetensors")
    _rewrite_metadata(path, format_version="99")
    with pytest.raises(cg.CheckpointError, match="format version 99, this compgen reads version 1"):
        cg.load(path)
    path = cg.save(cg.EnergyDiffusion(dim=2), tmp_path / "m.safetensors")
    config = cg.EnergyDiffusion(dim=2, hidden=64).config()
    _rewrite_metadata(path, config=json.dumps(config))
    with pytest.raises(cg.CheckpointError, match="config and weights do not match"):
        cg.load(path)


def test_save_refuses_compositions(tmp_path):
    with pytest.raises(TypeError, match="save its leaf models one by one"):
        cg.save(toy2d.ring() & toy2d.bars_h(), tmp_path / "q.safetensors")


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = cg.save(cg.EnergyDiffusion(dim=2), tmp_path / "m.safetensors")
    before = path.read_bytes()

    write_bytes = Path.write_bytes

    def broken(self, data):  # half the file reaches the disk, then the disk is full
        write_bytes(self, data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        cg.save(cg.EnergyDiffusion(dim=2, hidden=32), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.safetensors"]


def _eps_error(model, exact, t, gen):
    """Mean squared error of the model's noise prediction against the exact one, sigma * score."""
    sigma = cg.DEFAULT_SCHEDULE.sigma(torch.tensor(t))
    x = exact.sample(2000, gen, t=t)
    return ((sigma * (model.score(x, t) - exact.score(x, t))) ** 2).sum(-1).mean().item()


def test_training_is_deterministic_and_learns():
    bars = toy2d.bars_h()
    data = bars.sample(2000, torch.Generator().manual_seed(0))
    models = [cg.train(cg.EnergyDiffusion(dim=2, hidden=64, layers=2), data, steps=400, seed=3,
                       progress=False) for _ in range(2)]
    for p1, p2 in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(p1, p2)
    untrained = cg.EnergyDiffusion(dim=2, hidden=64, layers=2)
    errors = {t: (_eps_error(untrained, bars, t, torch.Generator().manual_seed(1)),
                  _eps_error(models[0], bars, t, torch.Generator().manual_seed(1))) for t in (0.1, 0.4)}
    # measured: 1.44 -> 0.012 at t=0.4; the thin bands' low-noise score is learned slowly
    assert errors[0.4][1] < 0.1 * errors[0.4][0], errors
    assert errors[0.1][1] < errors[0.1][0], errors


def test_conditional_training_uses_labels():
    a, b = toy2d.bars_h().sample(256, torch.Generator().manual_seed(0)), toy2d.ring().sample(256)
    data, labels = torch.cat([a, b]), torch.cat([torch.zeros(256), torch.ones(256)]).long()
    m = cg.train(cg.ScoreDiffusion(dim=2, num_classes=2), data, labels=labels, steps=50, progress=False)
    assert m.given(0).score(torch.zeros(3, 2), 0.5).shape == (3, 2)


def test_training_callback_sees_every_step_and_the_ema_model():
    seen = []
    model = cg.EnergyDiffusion(dim=2, hidden=16, layers=1)
    trained = cg.train(model, torch.randn(64, 2), steps=5, progress=False,
                       callback=lambda step, ema: seen.append((step, ema is not model, ema.training)))
    assert seen == [(k, True, False) for k in range(1, 6)] and trained is model


def test_federated_averaging_over_one_site_is_plain_training():
    data = toy2d.bars_h().sample(500, torch.Generator().manual_seed(0))
    plain = cg.train(cg.EnergyDiffusion(dim=2, hidden=32, layers=2), data, steps=40, batch_size=64, seed=2,
                     ema_decay=0.0, progress=False)
    fed = cg.train_federated(cg.EnergyDiffusion(dim=2, hidden=32, layers=2), [(data, None)], rounds=4,
                             local_steps=10, batch_size=64, seed=2, ema_decay=0.0, progress=False)
    for p1, p2 in zip(plain.parameters(), fed.parameters(), strict=True):
        assert torch.equal(p1, p2)


def test_federated_averaging_learns_from_every_site_and_keeps_their_conditions():
    gen = torch.Generator().manual_seed(0)
    left, right = (toy2d.blob((c, 0.0), 0.3).sample(1000, gen) for c in (-2.0, 2.0))
    flags = torch.eye(2)
    # few local steps per round, or the sites drift apart: of site 0's conditional samples, measured
    # 20% on site 1's side at 25 local steps (40 rounds), 1.7% at 10 (100), 0.1% at 1 (1000)
    kw = {"rounds": 100, "local_steps": 10, "batch_size": 128, "seed": 0, "progress": False}
    pooled = cg.train_federated(cg.EnergyDiffusion(dim=2, hidden=64, layers=2), [(left, None), (right, None)],
                                **kw)
    right_share = (cg.sample(pooled, 2000, "reverse", generator=gen).x[:, 0] > 0).float().mean().item()
    assert 0.3 < right_share < 0.7, right_share  # both sites' data shaped the one model
    sites = [(left, flags[0].expand(1000, 2)), (right, flags[1].expand(1000, 2))]
    conditional = cg.train_federated(cg.EnergyDiffusion(dim=2, hidden=64, layers=2, cond_dim=2), sites, **kw)
    for k, side in ((0, -1), (1, 1)):
        x = cg.sample(conditional.given(flags[k]), 1000, "reverse", generator=gen).x
        assert (side * x[:, 0] > 0).float().mean() > 0.9


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rounds": 0}, "rounds must be a positive integer"),
    ({"local_steps": 1.5}, "local_steps must be a positive integer"),
    ({"sites": []}, "sites is empty"),
    ({"sites": [(torch.zeros(5, 3), None)]}, r"data must have shape \(N, 2\)"),
])
def test_federated_averaging_refuses_bad_arguments(kwargs, message):
    args = {"sites": [(torch.zeros(5, 2), None)], "rounds": 1, "local_steps": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        cg.train_federated(cg.EnergyDiffusion(dim=2, hidden=8, layers=1), progress=False, **args)


class WarmEnergy(cg.EnergyDiffusion):
    """A new model kind, defined outside compgen: it checkpoints with no change to compgen."""

    def __init__(self, *args, warmth: float = 2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.warmth = warmth

    def energy(self, x, t, cond=None):
        return super().energy(x, t, cond) / self.warmth


def test_a_new_model_kind_checkpoints_by_its_constructor_arguments(tmp_path, gen):
    m = WarmEnergy(2, hidden=16, warmth=3.0, name="warm")
    assert m.config() == {**cg.EnergyDiffusion(2, hidden=16, name="warm").config(), "kind": "WarmEnergy",
                          "warmth": 3.0}
    m2 = cg.load(cg.save(m, tmp_path / "warm.safetensors"))
    assert type(m2) is WarmEnergy and m2.warmth == 3.0
    x = torch.randn(4, 2, generator=gen)
    torch.testing.assert_close(m2.energy(x, 0.5), m.energy(x, 0.5))
