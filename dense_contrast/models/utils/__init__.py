from .builder import build_module, build_parts, mocov2_cfg
from .distributed import (batch_shuffle, batch_unshuffle, gather_batch,
                          gather_batch_with_grad)
from .matching import dense_to_rows, gather_locations, match_by_similarity
from .montage import (MontageBuilder, MontageGeometryError, Montages,
                      split_windows)
from .queue import FeatureQueue
from .clustering import (Clustering, cosine_kmeans, kmeans_plusplus_init,
                         lloyd_step, sinkhorn_knopp)
from .neighbours import Neighbours, discover_neighbours

__all__ = [
    'FeatureQueue', 'batch_shuffle', 'batch_unshuffle', 'gather_batch',
    'gather_batch_with_grad', 'gather_locations', 'match_by_similarity',
    'dense_to_rows', 'build_module', 'build_parts', 'mocov2_cfg',
    'MontageBuilder', 'MontageGeometryError', 'Montages', 'split_windows',
    'Clustering', 'cosine_kmeans', 'kmeans_plusplus_init', 'lloyd_step',
    'sinkhorn_knopp', 'Neighbours', 'discover_neighbours'
]
