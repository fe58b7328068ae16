# One-command entry points. `make demo` and `make test` set up .venv first
# when it is missing or out of date (tools/setup_env.sh, idempotent).
PY := .venv/bin/python
STAMP := .venv/.dense_contrast-setup
DEMO_CONFIG ?= configs/densecl/densecl_resnet18_1xb32-coslr-8e_toyscenes.py
DEMO_DIR ?= work_dirs/demo_densecl_toyscenes
PYTEST_ARGS ?=

.PHONY: env demo test clean-demo

env: $(STAMP)

$(STAMP): tools/setup_env.sh setup.py requirements/*.txt
	bash tools/setup_env.sh
	touch $(STAMP)

# Pretrain DenseCL (ResNet-18) on the embedded toy scenes, then extract the
# backbone for mmdet / mmseg. Re-running resumes or reuses finished work.
demo: env
	$(PY) tools/train.py $(DEMO_CONFIG) --work-dir $(DEMO_DIR) --resume
	$(PY) tools/model_converters/extract_backbone_weights.py \
		"$$(cat $(DEMO_DIR)/last_checkpoint)" $(DEMO_DIR)/backbone.pth

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean-demo:
	rm -rf $(DEMO_DIR)
