# Ablation row: (ii) cross-view dense negative and positive pairs: the
# xview row plus, as negatives of every query, the non-matched locations of
# its positive's view of the same image (same_image_negatives=True), on top
# of the pooled negatives of other images.
_base_ = ['./densecl-pp-xview_resnet18_1xb32-coslr-20e_toyscenes.py']

model = dict(same_image_negatives=True)
