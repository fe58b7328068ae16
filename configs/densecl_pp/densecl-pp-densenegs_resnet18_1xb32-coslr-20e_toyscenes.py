# Ablation row: (i) the dense term's negatives are random locations of the
# other images (random K) instead of pooled keys (same total dense weight).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(cross_view=False, reconstruction=False)
