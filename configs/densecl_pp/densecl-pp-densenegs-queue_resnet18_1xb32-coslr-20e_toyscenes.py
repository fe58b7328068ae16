# Ablation row: (i) the dense term's negatives come from a queue of single
# dense keys instead of pooled keys (same total dense weight).
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives='queue', cross_view=False, reconstruction=False)
