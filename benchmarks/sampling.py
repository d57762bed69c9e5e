"""Sampling speed of our DDPM samplers against diffusers' pipelines on the same UNet, measured alternately.

The network is the ``google/ddpm-cifar10-32`` architecture (35.7 M parameters) with random weights,
built from its config in code (no download). Per round, in one process and on the same UNet object:
diffusers ``DDPMPipeline``, our ancestral DDPM, diffusers ``DDIMPipeline``, our DDIM, and the floor,
one bare UNet forward per step. Prints seconds per step (fastest and median round), and

    ratio_vs_diffusers: X      diffusers' seconds per step / ours (>= 1.0: ours at least as fast)
    fraction_of_floor: F       floor seconds per step / ours (1.0: no overhead beyond the network)

With a CUDA GPU, ``--gpu-throughput`` also reports images per second at 1000/50/20 steps with
bf16 autocast and torch.compile.

    python -m benchmarks.sampling [--batch 16] [--steps 4] [--rounds 3] [--threads N] [--channels-last] [--compile]

``--quick``: batch 2, 1 step, 1 round (seconds; the figures mean little).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

# google/ddpm-cifar10-32's unet config.json, written out so the benchmark runs offline.
CIFAR10_UNET_CONFIG = {
    "sample_size": 32,
    "in_channels": 3,
    "out_channels": 3,
    "block_out_channels": (128, 256, 256, 256),
    "layers_per_block": 2,
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
    "act_fn": "silu",
    "attention_head_dim": None,
    "center_input_sample": False,
    "downsample_padding": 0,
    "flip_sin_to_cos": False,
    "freq_shift": 1,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-06,
    "norm_num_groups": 32,
    "time_embedding_type": "positional",
}


def build_cifar10_unet():
    import diffusers

    torch.manual_seed(0)
    return diffusers.UNet2DModel(**CIFAR10_UNET_CONFIG).eval()


def _seconds(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _postprocess(x: torch.Tensor):
    # The same work the pipelines do after the loop, so both sides produce the same numpy images.
    return (x / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).float().numpy()


def compare_with_diffusers(
    batch: int, steps: int, rounds: int, device: str, *, channels_last: bool = False, compile: bool = False
) -> dict[str, float]:
    import diffusers

    from generators.ddpm import (
        DDIMScheduler,
        DDPMScheduler,
        DiffusersUNet,
        NoiseSchedule,
        PreparedDenoiser,
        SamplingOptions,
        sample,
    )

    unet = build_cifar10_unet().to(device)
    dev = torch.device(device)
    options = SamplingOptions(device=device, dtype="float32", channels_last=channels_last, compile=compile)
    # channels-last converts the shared UNet in place; the pipelines then run it that way too.
    ours_model = PreparedDenoiser(DiffusersUNet(unet), options)
    schedule = NoiseSchedule.make()
    ddpm_pipe = diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler()).to(device)
    ddim_pipe = diffusers.DDIMPipeline(unet=unet, scheduler=diffusers.DDIMScheduler()).to(device)
    for pipe in (ddpm_pipe, ddim_pipe):
        pipe.set_progress_bar_config(disable=True)

    def gens():
        return [torch.Generator().manual_seed(i) for i in range(batch)]

    def ours(scheduler):
        return lambda: _postprocess(
            sample(ours_model, scheduler, gens(), (3, 32, 32), num_inference_steps=steps, device=dev)
        )

    def theirs(pipe):
        return lambda: pipe(batch_size=batch, generator=gens(), num_inference_steps=steps, output_type="np")

    x = torch.randn(batch, 3, 32, 32, device=dev)
    t = torch.full((batch,), 500, device=dev)

    def floor():
        with torch.inference_mode():
            for _ in range(steps):
                unet(x, t)

    runs = {
        "diffusers_ddpm": theirs(ddpm_pipe),
        "ours_ddpm": ours(DDPMScheduler(schedule)),
        "diffusers_ddim": theirs(ddim_pipe),
        "ours_ddim": ours(DDIMScheduler(schedule)),
        "floor": floor,
    }
    # Same images from both sides: a check that the comparison compares like with like.
    a, b = runs["ours_ddim"](), runs["diffusers_ddim"]().images
    assert abs(a - b).max() < 1e-3, "our DDIM and diffusers' differ; the timing would compare different work"
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for round_index in range(rounds):
        order = list(runs) if round_index % 2 == 0 else list(reversed(runs))  # alternate who goes first
        for name in order:
            timings[name].append(_seconds(runs[name], dev) / steps)
    # The fastest round is the one least disturbed by other work on a shared machine (timeit's advice);
    # the median is printed beside it to show how noisy the machine was.
    for name, values in timings.items():
        print(f"{name:>16}: min {min(values):.4f}  median {statistics.median(values):.4f} s/step")
    return {name: min(values) for name, values in timings.items()}


def gpu_throughput(batch: int) -> dict[int, float]:
    """Images per second at 1000/50/20 steps: bf16 autocast + torch.compile + channels-last, on CUDA."""
    from generators.ddpm import (
        DDIMScheduler,
        DDPMScheduler,
        DiffusersUNet,
        NoiseSchedule,
        PreparedDenoiser,
        SamplingOptions,
        sample,
    )

    options = SamplingOptions(device="cuda", dtype="bfloat16", channels_last=True, compile=True)
    model = PreparedDenoiser(DiffusersUNet(build_cifar10_unet()), options)
    schedule = NoiseSchedule.make()
    results = {}
    for steps in (1000, 50, 20):
        scheduler = DDPMScheduler(schedule) if steps == 1000 else DDIMScheduler(schedule)

        def run(scheduler=scheduler, steps=steps):
            gens = [torch.Generator().manual_seed(i) for i in range(batch)]
            return sample(model, scheduler, gens, (3, 32, 32), num_inference_steps=steps, device="cuda")

        run()  # compile and warm up
        results[steps] = batch / _seconds(run, torch.device("cuda"))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4, help="sampling steps per timed run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile our side (diffusers stays eager)")
    parser.add_argument("--gpu-throughput", action="store_true")
    parser.add_argument("--quick", action="store_true", help="batch 2, 1 step, 1 round: the whole benchmark in seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.steps, args.rounds = 2, 1, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"google/ddpm-cifar10-32 architecture, random weights; batch {args.batch}, {args.steps} steps, "
        f"{args.rounds} rounds; device {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    result = compare_with_diffusers(
        args.batch, args.steps, args.rounds, args.device, channels_last=args.channels_last, compile=args.compile
    )
    for sampler in ("ddpm", "ddim"):
        print(f"ratio_vs_diffusers[{sampler}]: {result[f'diffusers_{sampler}'] / result[f'ours_{sampler}']:.3f}")
    diffusers_total = result["diffusers_ddpm"] + result["diffusers_ddim"]
    ours_total = result["ours_ddpm"] + result["ours_ddim"]
    print(f"ratio_vs_diffusers: {diffusers_total / ours_total:.3f}")
    print(f"fraction_of_floor: {2 * result['floor'] / ours_total:.3f}")
    if args.gpu_throughput:
        if not torch.cuda.is_available():
            print("gpu_throughput: no CUDA device on this machine")
        else:
            for steps, rate in gpu_throughput(args.batch).items():
                print(f"images_per_second[{steps} steps, bf16+compile]: {rate:.1f}")


if __name__ == "__main__":
    main()
