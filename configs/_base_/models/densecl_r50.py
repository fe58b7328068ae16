# DenseCL with a ResNet-50: the DenseCL core (queue 65,536, tau 0.2, m 0.999,
# per-GPU BN, matching on backbone C5 features) with the authors' lambda 0.5.
_base_ = ['./densecl_core_r50.py']

model = dict(type='DenseCL', loss_lambda=0.5)
