# Ablation row: DenseCL + (ii) cross-view dense pairs (pooled negatives).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives=None, reconstruction=False)
