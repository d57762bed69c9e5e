"""The Stable Diffusion safety checker as a scorer: per-concept scores and the flag, images untouched.

diffusers' ``StableDiffusionSafetyChecker`` compares a CLIP ViT-L/14 image
embedding with 17 concept embeddings and 3 "special care" embeddings, each
with its own threshold; an image is flagged when any concept's cosine exceeds
its threshold (the thresholds drop by 0.01 once a special-care concept fires).
Its ``forward`` blacks out flagged images and rounds scores; this scorer
computes the same numbers from the same weights, unrounded, and keeps every
concept score as a measurement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.classifiers.base import Classifier, ClassifierParams, ImageResult, register
from audit.core.errors import ModelNotFoundError

SAFETY_ATTRIBUTE = "sd_safety_flagged"
# The checker's own increase of sensitivity once a special-care concept fires.
SPECIAL_CARE_ADJUSTMENT = 0.01


@dataclasses.dataclass(frozen=True)
class SafetyCheckerParams(ClassifierParams):
    """Hub id or local folder holding the checker and its CLIP image processor."""

    model: str = "CompVis/stable-diffusion-safety-checker"


def concept_scores(checker: Any, pixel_values: Any) -> tuple[Any, Any, Any]:
    """Special-care scores ``(n, 3)``, concept scores ``(n, 17)`` (cosine minus threshold) and flags ``(n,)``."""
    import torch.nn.functional as F

    pooled = checker.vision_model(pixel_values)[1]
    embeds = F.normalize(checker.visual_projection(pooled).float(), dim=-1)
    special = embeds @ F.normalize(checker.special_care_embeds.float(), dim=-1).T
    special = special - checker.special_care_embeds_weights.float()
    adjustment = (special > 0).any(dim=1, keepdim=True).float() * SPECIAL_CARE_ADJUSTMENT
    concepts = embeds @ F.normalize(checker.concept_embeds.float(), dim=-1).T
    concepts = concepts - checker.concept_embeds_weights.float() + adjustment
    return special, concepts, (concepts > 0).any(dim=1)


@register
class SafetyCheckerClassifier(Classifier):
    """Stable Diffusion's NSFW safety checker: flag plus 17 concept and 3 special-care scores."""

    type_name = "sd_safety_checker"
    Params = SafetyCheckerParams
    params: SafetyCheckerParams

    @property
    def classifier_id(self) -> str:
        return f"{self.type_name}:{self.params.model}"

    def libraries(self) -> Sequence[str]:
        return ("torch", "diffusers", "transformers")

    @classmethod
    def example_params(cls, workdir: Path) -> SafetyCheckerParams:
        """A random-weight checker saved like the hub's, with thresholds amid the cosines of ordinary images.

        Its verdicts mean nothing; it takes the code path a real checker takes, and flags some images.
        """
        import torch
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPConfig, CLIPImageProcessor

        tiny = {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 2, "num_hidden_layers": 2}
        config = CLIPConfig(
            text_config=tiny, vision_config={**tiny, "image_size": 32, "patch_size": 8}, projection_dim=16
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            checker = StableDiffusionSafetyChecker(config).eval()
            with torch.no_grad():
                checker.concept_embeds.normal_()
                checker.special_care_embeds.normal_()
                checker.concept_embeds_weights.fill_(0.425)
                checker.special_care_embeds_weights.fill_(0.42)
        folder = Path(workdir) / "tiny-safety-checker"
        checker.save_pretrained(folder)
        CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
        return SafetyCheckerParams(model=str(folder))

    def from_hub(self) -> bool:
        return not Path(self.params.model).is_dir()

    def check_available(self) -> None:
        from transformers import CLIPImageProcessor

        try:
            CLIPImageProcessor.from_pretrained(self.params.model)
        except (OSError, ValueError) as exc:
            raise self._missing() from exc

    def _missing(self) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"the safety checker {self.params.model!r} is not on disk and could not be downloaded; "
            f"fetch it with `huggingface-cli download {self.params.model}` or set `model:` to a local folder"
        )

    def _load(self) -> None:
        import transformers
        from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
        from transformers import CLIPImageProcessor

        transformers.utils.logging.set_verbosity_error()
        try:
            self.processor = CLIPImageProcessor.from_pretrained(self.params.model)
            self.checker = StableDiffusionSafetyChecker.from_pretrained(self.params.model)
        except (OSError, ValueError) as exc:
            raise self._missing() from exc
        self.checker.to(self.device).eval()

    def prepare(self, images: Sequence[Any]) -> Any:
        self.load()
        return self.processor(images=list(images), return_tensors="pt").pixel_values

    def predict(self, prepared: Any) -> list[ImageResult]:
        special, concepts, flags = concept_scores(self.checker, prepared.to(self.device))
        special, concepts, flags = special.cpu().numpy(), concepts.cpu().numpy(), flags.cpu().numpy()
        results = []
        for i in range(len(flags)):
            result = ImageResult()
            result.add_decision(SAFETY_ATTRIBUTE, "yes" if flags[i] else "no")
            result.measurements.update({f"concept_{j}": float(v) for j, v in enumerate(concepts[i])})
            result.measurements.update({f"special_care_{j}": float(v) for j, v in enumerate(special[i])})
            results.append(result)
        return results
