# Ablation row: (i) the dense term's negatives are every location of every
# other image instead of pooled keys (same total dense weight).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives='all', cross_view=False, reconstruction=False)
