from .base_dense_contrast import BaseDenseContrast, ViewEmbeddings
from .densecl import DenseCL
from .densecl_pp import DenseCLPP
from .dsc import DSC, SemanticViewEmbeddings
from .mcl import MCL

__all__ = [
    'BaseDenseContrast', 'DenseCL', 'DenseCLPP', 'MCL', 'ViewEmbeddings',
    'DSC', 'SemanticViewEmbeddings'
]
