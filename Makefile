# One-command entry points. `make demo` and `make test` set up .venv first
# when it is missing or out of date (tools/setup_env.sh, idempotent).
PY := .venv/bin/python
STAMP := .venv/.dense_contrast-setup
DEMO_CONFIG ?= configs/densecl/densecl_resnet18_1xb32-coslr-20e_toyscenes-probed.py
DEMO_DIR ?= work_dirs/demo_densecl_toyscenes
PYTEST_ARGS ?=

.PHONY: env demo test clean-demo

env: $(STAMP)

$(STAMP): tools/setup_env.sh setup.py requirements/*.txt
	bash tools/setup_env.sh
	touch $(STAMP)

# Pretrain DenseCL (the toy scale: quarter-width ResNet-18, 160 px views) on
# the embedded toy scenes for DEMO_EPOCHS epochs (cosine over those epochs;
# 20, the config's own schedule: 12 left the frozen-backbone transfer's gain
# inside the seed spread, see docs/transfer.md), with dense probes on the
# test split before and after;
# print the probes, extract the backbone, train the toy FCN's linear head on
# the frozen backbone from it and from random init and print that table.
# Re-running resumes or reuses finished work.
DEMO_EPOCHS ?= 20
DEMO_TRANSFER_DIR ?= work_dirs/demo_transfer_toyscenes
DEMO_DOWNSTREAM ?= configs/benchmarks/mmsegmentation/fcn-linear_r18_1xb8-1000i_toyscenes-256x256.py
demo: env
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR) --resume \
		--cfg-options train_cfg.max_epochs=$(DEMO_EPOCHS) \
		param_scheduler.0.T_max=$(DEMO_EPOCHS) param_scheduler.0.end=$(DEMO_EPOCHS)
	$(PY) tools/analysis_tools/probe_table.py $(DEMO_DIR) --out $(DEMO_DIR)/probes.md
	$(PY) tools/model_converters/extract_backbone_weights.py \
		"$$(cat $(DEMO_DIR)/last_checkpoint)" $(DEMO_DIR)/backbone.pth
	$(PY) tools/transfer.py "$$(cat $(DEMO_DIR)/last_checkpoint)" \
		--downstream $(DEMO_DOWNSTREAM) --random-init --test --work-dir $(DEMO_TRANSFER_DIR)

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean-demo:
	rm -rf $(DEMO_DIR) $(DEMO_TRANSFER_DIR)
