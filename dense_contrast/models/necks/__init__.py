from .dense_projection_neck import DenseProjectionNeck, DenseProjections

__all__ = ['DenseProjectionNeck', 'DenseProjections']
