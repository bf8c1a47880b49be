# iConFormer in the frozen source-pretrained tiny Swin, VPD depth head on the
# synthetic NYU-layout target task. The real NYU-v2 config, shrunk by
# ./_base_/depth_demo.py (its optimizer, with the head's 1e-3 for adapters).
_base_ = [
    '../iconformer/iconformer_swin-b-in22k-pre_vpd-head_8xb4-25k_nyu-480x480.py',  # noqa
    './_base_/depth_demo.py'
]
model = {{_base_.demo_model}}
train_dataloader = {{_base_.demo_train_dataloader}}
val_dataloader = {{_base_.demo_val_dataloader}}
test_dataloader = {{_base_.demo_val_dataloader}}
val_evaluator = {{_base_.demo_val_evaluator}}
test_evaluator = {{_base_.demo_val_evaluator}}
train_cfg = {{_base_.demo_train_cfg}}
param_scheduler = {{_base_.demo_param_scheduler}}
default_hooks = {{_base_.demo_default_hooks}}
