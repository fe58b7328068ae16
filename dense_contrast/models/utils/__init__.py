from .distributed import batch_shuffle, batch_unshuffle, gather_batch
from .matching import gather_locations, match_by_similarity
from .queue import FeatureQueue

__all__ = [
    'FeatureQueue', 'batch_shuffle', 'batch_unshuffle', 'gather_batch',
    'gather_locations', 'match_by_similarity'
]
