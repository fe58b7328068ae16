# Ablation row: DenseCL + (i) with a queue of single dense keys.
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives='queue', cross_view=False, reconstruction=False)
