from .warmup_cosine_lr import CosineAnnealingWarmupFactorLR

__all__ = ['CosineAnnealingWarmupFactorLR']
