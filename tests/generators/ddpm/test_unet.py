"""The UNet's patch option: a network that works on p×p patches folded into channels."""

import pytest
import torch

from generators.ddpm import NoiseSchedule, Trainer, TrainingConfig, UNet, UNetConfig, load_checkpoint


def test_a_patched_unet_maps_images_to_images_at_a_quarter_of_the_cost(tmp_path):
    torch.manual_seed(0)
    common = dict(sample_size=16, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, norm_groups=4)
    patched = UNet(UNetConfig(**common, patch_size=2, attention_resolutions=(4,), num_classes=3))
    x = torch.randn(2, 3, 16, 16)
    out = patched(x, torch.tensor([5, 500]), torch.tensor([0, 3]))
    assert out.shape == x.shape
    assert patched.conv_in.in_channels == 12 and patched.conv_out.out_channels == 12
    # The patch size is part of the checkpoint's config: the saved network comes back the same.
    Trainer(patched, NoiseSchedule.make("cosine"), TrainingConfig(steps=0), device="cpu").save(tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.model.config.patch_size == 2
    patched.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            loaded.model(x, torch.tensor([5, 500]), torch.tensor([0, 3])),
            patched(x, torch.tensor([5, 500]), torch.tensor([0, 3])),
        )


@pytest.mark.parametrize(("size", "patch"), [(16, 3), (16, 0), (12, 4)])
def test_a_patch_size_that_does_not_fit_the_image_is_refused(size, patch):
    with pytest.raises(ValueError, match="patch_size|halve"):
        UNetConfig(sample_size=size, patch_size=patch, channel_mults=(1, 2))
