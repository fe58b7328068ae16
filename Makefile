# One-command entry points. `make demo` and `make test` set up .venv first
# when it is missing or out of date (tools/setup_env.sh, idempotent).
PY := .venv/bin/python
STAMP := .venv/.dense_contrast-setup
DEMO_CONFIG ?= configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes.py
DEMO_DIR ?= work_dirs/demo_densecl_toyscenes
PYTEST_ARGS ?=

.PHONY: env demo test clean-demo

env: $(STAMP)

$(STAMP): tools/setup_env.sh setup.py requirements/*.txt
	bash tools/setup_env.sh
	touch $(STAMP)

# Pretrain DenseCL (ResNet-18) on the embedded toy scenes (DEMO_EPOCHS of the
# config's 8 epochs), extract the backbone for mmdet / mmseg, fine-tune the
# toy Mask R-CNN and FCN from it and from random init, print the table.
# Re-running resumes or reuses finished work.
DEMO_EPOCHS ?= 3
DEMO_TRANSFER_DIR ?= work_dirs/demo_transfer_toyscenes
DEMO_DOWNSTREAM ?= configs/benchmarks/mmdetection/mask-rcnn_r18_fpn_1xb8-2e_toyscenes.py \
	configs/benchmarks/mmsegmentation/fcn_r18-d8_1xb8-100i_toyscenes-128x128.py
demo: env
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR) --resume \
		--cfg-options train_cfg.max_epochs=$(DEMO_EPOCHS) \
		param_scheduler.0.T_max=$(DEMO_EPOCHS) param_scheduler.0.end=$(DEMO_EPOCHS)
	$(PY) tools/model_converters/extract_backbone_weights.py \
		"$$(cat $(DEMO_DIR)/last_checkpoint)" $(DEMO_DIR)/backbone.pth
	$(PY) tools/transfer.py "$$(cat $(DEMO_DIR)/last_checkpoint)" \
		--downstream $(DEMO_DOWNSTREAM) --random-init --work-dir $(DEMO_TRANSFER_DIR)

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean-demo:
	rm -rf $(DEMO_DIR) $(DEMO_TRANSFER_DIR)
