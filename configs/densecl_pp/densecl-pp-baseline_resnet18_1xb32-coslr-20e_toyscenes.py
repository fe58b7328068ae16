# Ablation row: no part on (DenseCL under DenseCLPP). Every row's dense terms
# weigh loss_lambda in total (dense_weighting='replace', the default).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives=None, cross_view=False, reconstruction=False)
