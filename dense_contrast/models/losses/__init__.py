from .info_nce import (PositiveSet, at_least_float32, info_nce,
                       info_nce_shared_negatives)

__all__ = [
    'PositiveSet', 'at_least_float32', 'info_nce', 'info_nce_shared_negatives'
]
