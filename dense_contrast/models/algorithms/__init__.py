from .base_dense_contrast import BaseDenseContrast, ViewEmbeddings
from .densecl import DenseCL

__all__ = ['BaseDenseContrast', 'DenseCL', 'ViewEmbeddings']
