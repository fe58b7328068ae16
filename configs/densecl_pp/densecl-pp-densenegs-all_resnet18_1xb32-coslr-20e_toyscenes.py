# Ablation row: DenseCL + (i) with every location of every other image.
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives='all', cross_view=False, reconstruction=False)
