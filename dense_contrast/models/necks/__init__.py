from .dense_projection_neck import DenseProjectionNeck, DenseProjections
from .region_embedding_neck import RegionEmbeddingNeck
from .dense_semantic_neck import DenseSemanticNeck, SemanticProjections

__all__ = [
    'DenseProjectionNeck', 'DenseProjections', 'RegionEmbeddingNeck',
    'DenseSemanticNeck', 'SemanticProjections'
]
