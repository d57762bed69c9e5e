"""Training: checkpoints round-trip, resumed training equals uninterrupted training, config sits beside weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from generators.ddpm import (
    DDIMScheduler,
    MLPConfig,
    MLPDenoiser,
    NoiseSchedule,
    Trainer,
    TrainingConfig,
    UNet,
    UNetConfig,
    is_checkpoint,
    load_checkpoint,
    sample,
)


def _data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (n,), generator=rng)
    return torch.randn(n, 2, generator=rng) * 0.1 + labels[:, None].float(), labels


def _trainer(out_dir=None, steps=20, **overrides) -> Trainer:
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(dim=2, hidden=32, depth=2, num_classes=3))
    config = TrainingConfig(steps=steps, batch_size=16, lr=1e-3, ema_decay=0.9, **overrides)
    return Trainer(
        model, NoiseSchedule.make("cosine", 100), config, out_dir=out_dir, class_names=["a", "b", "c"], device="cpu"
    )


def _samples(model, schedule, seeds=(0, 1, 2)) -> torch.Tensor:
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    scheduler = DDIMScheduler(schedule, clip_sample=False, eta=1.0)
    return sample(model, scheduler, generators, (2,), num_inference_steps=10, labels=torch.tensor([0, 1, 2]))


def test_checkpoint_round_trip_gives_the_same_samples(tmp_path):
    data, labels = _data()
    trainer = _trainer(tmp_path / "ckpt")
    trainer.fit(data, labels, progress=False)
    assert is_checkpoint(tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    expected = _samples(trainer.ema.module.eval(), trainer.schedule)
    torch.testing.assert_close(_samples(loaded.model, loaded.schedule), expected, rtol=0, atol=0)
    assert loaded.class_names == ["a", "b", "c"]
    np_betas = NoiseSchedule.make("cosine", 100).betas
    assert loaded.schedule.betas.tolist() == np_betas.tolist()
    # The raw weights are there too, and differ from the EMA.
    raw = load_checkpoint(tmp_path / "ckpt", ema=False)
    assert not torch.equal(raw.model.out.weight, loaded.model.out.weight)


def test_config_json_sits_beside_safetensors_weights(tmp_path):
    _trainer(tmp_path, steps=3).fit(*_data(), progress=False)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["format"] == "diffaudit-ddpm"
    assert config["model"] == {"architecture": "mlp", "dim": 2, "hidden": 32, "depth": 2, "num_classes": 3}
    assert config["step"] == 3 and config["training"]["steps"] == 3
    assert set(load_file(str(tmp_path / "model.safetensors"))) == set(MLPDenoiser(MLPConfig(2, 32, 2, 3)).state_dict())
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.pkl"))


def test_resumed_training_equals_uninterrupted_training(tmp_path):
    data, labels = _data()
    straight = _trainer(steps=20)
    straight_losses = straight.fit(data, labels, progress=False)

    first = _trainer(tmp_path, steps=10)
    first_losses = first.fit(data, labels, progress=False)
    resumed = Trainer.resume(tmp_path, steps=20, device="cpu")
    assert resumed.step == 10
    second_losses = resumed.fit(data, labels, progress=False)

    assert first_losses + second_losses == pytest.approx(straight_losses, rel=1e-5, abs=1e-7)
    for name, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    for name, value in straight.ema.module.state_dict().items():
        torch.testing.assert_close(resumed.ema.module.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    assert len(resumed.losses) == 20


def test_periodic_checkpoints_record_their_step(tmp_path):
    trainer = _trainer(tmp_path, steps=7, checkpoint_every=3)
    seen = []
    original = trainer.save

    def save_and_note(out_dir=None):
        folder = original(out_dir)
        seen.append(json.loads((folder / "config.json").read_text())["step"])
        return folder

    trainer.save = save_and_note
    trainer.fit(*_data(), progress=False)
    assert seen == [3, 6, 7]


def test_gradient_clipping_bounds_the_update():
    """The gradient the optimizer applies has norm grad_clip when the raw gradient is larger."""
    data, labels = _data()
    trainer = _trainer(steps=1, grad_clip=1e-3)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    grads = []
    trainer.model.out.weight.register_hook(lambda g: grads.append(g.norm().item()))
    trainer.fit(data, labels, progress=False)
    assert grads and grads[0] > 1e-3  # the raw gradient was larger than the clip ...
    total = torch.sqrt(sum(p.grad.norm() ** 2 for p in trainer.model.parameters() if p.grad is not None))
    assert total.item() == pytest.approx(1e-3, rel=1e-3)  # ... and the applied one is clipped
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_progress_bar_shows_the_loss(capsys):
    trainer = _trainer(steps=2)
    trainer.fit(*_data(), progress=True)
    assert "loss" in capsys.readouterr().out


def test_labels_need_a_class_conditional_model():
    model = MLPDenoiser(MLPConfig(dim=2, hidden=8, depth=1))
    trainer = Trainer(model, NoiseSchedule.make(num_timesteps=10), TrainingConfig(steps=1, batch_size=2), device="cpu")
    with pytest.raises(ValueError, match="num_classes"):
        trainer.fit(torch.zeros(4, 2), torch.zeros(4), progress=False)


def test_unet_learns_and_checkpoints(tmp_path):
    """Our UNet trains (loss falls on a fixed small image set) and rebuilds from its checkpoint."""
    torch.manual_seed(0)
    model = UNet(
        UNetConfig(
            in_channels=1,
            sample_size=8,
            base_channels=16,
            channel_mults=(1, 2),
            num_res_blocks=1,
            attention_resolutions=(4,),
            num_classes=2,
            norm_groups=8,
        )
    )
    images = torch.linspace(-1, 1, 64).reshape(1, 1, 8, 8).repeat(8, 1, 1, 1)
    images[4:] = images[4:].flip(-1)
    config = TrainingConfig(steps=60, batch_size=8, lr=2e-3, ema_decay=0.9)
    trainer = Trainer(model, NoiseSchedule.make(num_timesteps=100), config, out_dir=tmp_path, device="cpu")
    losses = trainer.fit(images, torch.tensor([0] * 4 + [1] * 4), progress=False)
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10
    loaded = load_checkpoint(tmp_path)
    assert isinstance(loaded.model, UNet) and loaded.model.config == model.config
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([5, 50])
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.model(x, t, torch.tensor([0, 1])), trainer.ema.module.eval()(x, t, torch.tensor([0, 1]))
        )


def test_mixed_precision_is_for_gpus_only():
    model = MLPDenoiser(MLPConfig(dim=2, hidden=8, depth=1))
    for choice in ("auto", "bf16", "fp16"):
        trainer = Trainer(
            model, NoiseSchedule.make(num_timesteps=10), TrainingConfig(mixed_precision=choice), device="cpu"
        )
        assert trainer._amp_dtype is None and not trainer.scaler.is_enabled()
