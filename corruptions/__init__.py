"""Every corruption, its severity scale and its seeding.

build(name, modality, level=3) or build(name, modality, <param>=value, **options)
corruption.apply(batch, seeds) -> (batch, records)
corruption(x, seed=...) on a bare tensor; corruption.transform(x, ...) -> Transformed
Compose([...]); CorruptionModule(corruption) for nn.Sequential
sample_seed(protocol_seed, condition, sample_id): the runner's seed of one sample
test_seeds(protocol_seed, condition, ids); train_seeds(seed, epoch, ids); derive_seeds(seeds, key)
TrainRegime(specs, seed)(batch, epoch); subsets(modalities)
"""

from tacfn_robust.corruptions import audio, audio_library, features, missing, video  # noqa: F401  (register)
from tacfn_robust.corruptions.base import Corruption, Transformed
from tacfn_robust.corruptions.missing import SubsetCondition, subsets
from tacfn_robust.corruptions.options import CorruptionOptions
from tacfn_robust.corruptions.regime import TrainRegime
from tacfn_robust.corruptions.registry import (
    CORRUPTIONS,
    build,
    describe,
    list_corruptions,
    register,
)
from tacfn_robust.corruptions.seeding import (
    derive_seeds,
    row_seeds,
    sample_seed,
    test_seeds,
    train_seeds,
)
from tacfn_robust.corruptions.transforms import Compose, CorruptionModule

__all__ = [
    "CORRUPTIONS",
    "Compose",
    "Corruption",
    "CorruptionModule",
    "CorruptionOptions",
    "SubsetCondition",
    "TrainRegime",
    "Transformed",
    "build",
    "derive_seeds",
    "describe",
    "list_corruptions",
    "register",
    "row_seeds",
    "sample_seed",
    "subsets",
    "test_seeds",
    "train_seeds",
]
