"""Every corruption, its severity scale and its seeding.

build(name, modality, level=3) or build(name, modality, <param>=value, **options)
corruption.apply(batch, seeds) -> (batch, records)
test_seeds(protocol_seed, condition, ids); train_seeds(seed, epoch, ids)
TrainRegime(specs, seed)(batch, epoch); subsets(modalities)
"""

from corruptions import audio, audio_library, features, missing, video  # noqa: F401  (register)
from corruptions.base import Corruption
from corruptions.missing import SubsetCondition, subsets
from corruptions.regime import TrainRegime
from corruptions.registry import CORRUPTIONS, build, describe, list_corruptions, register
from corruptions.seeding import test_seeds, train_seeds

__all__ = [
    "CORRUPTIONS",
    "Corruption",
    "SubsetCondition",
    "TrainRegime",
    "build",
    "describe",
    "list_corruptions",
    "register",
    "subsets",
    "test_seeds",
    "train_seeds",
]
