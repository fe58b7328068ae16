from .info_nce_head import InfoNCEHead
from .masked_info_nce_head import MaskedInfoNCEHead
from .multi_level_contrast_head import (LevelLoss,
                                        MultiLevelContrastHead)
from .semantic_heads import KMeansSemanticHead, PrototypeSemanticHead
from .reconstruction_head import (ImageReconstructionHead,
                                  ImageReconstructionLoss)

__all__ = [
    'InfoNCEHead', 'MaskedInfoNCEHead', 'ImageReconstructionHead',
    'ImageReconstructionLoss', 'LevelLoss', 'MultiLevelContrastHead',
    'KMeansSemanticHead', 'PrototypeSemanticHead'
]
