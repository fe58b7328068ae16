# Ablation row: (ii) cross-view dense pairs with pooled negatives: the dense
# term in both directions (symmetric positives), each weighted
# loss_lambda / 2. The other view's non-matched locations of the same image
# are not negatives here; densecl-pp-xview-samenegs_* adds them.
_base_ = ['./densecl-pp_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(dense_negatives=None, reconstruction=False)
