# VPT-deep (4 prompts per layer) in the frozen source-pretrained tiny ViT.
# The real ADE20K ViT config, shrunk by ./_base_/seg_vit_demo.py (model)
# and ./_base_/seg_demo.py (data, schedule).
_base_ = [
    '../vpt/vpt_vit-b16_mln_upernet_8xb2-160k_ade20k-512x512.py',  # noqa
    './_base_/seg_demo.py', './_base_/seg_vit_demo.py'
]
model = {{_base_.demo_vit_model_vpt}}
train_dataloader = {{_base_.demo_train_dataloader}}
val_dataloader = {{_base_.demo_val_dataloader}}
test_dataloader = {{_base_.demo_val_dataloader}}
train_cfg = {{_base_.demo_train_cfg}}
param_scheduler = {{_base_.demo_param_scheduler}}
default_hooks = {{_base_.demo_default_hooks}}
optim_wrapper = dict(optimizer=dict(lr={{_base_.demo_peft_lr}}))
