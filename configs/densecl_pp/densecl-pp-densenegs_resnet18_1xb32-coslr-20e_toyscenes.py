# Ablation row: DenseCL + (i) dense negatives across images (random K).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(cross_view=False, reconstruction=False)
