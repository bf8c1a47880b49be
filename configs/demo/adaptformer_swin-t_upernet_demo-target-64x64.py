# AdaptFormer adapters in the frozen source-pretrained tiny Swin.
# The real ADE20K config of the method, shrunk by ./_base_/seg_demo.py.
_base_ = [
    '../adaptformer/adaptformer_swin-b-in22k-pre_upernet_8xb2-160k_ade20k-512x512.py',  # noqa
    './_base_/seg_demo.py'
]
model = {{_base_.demo_model_adaptformer}}
train_dataloader = {{_base_.demo_train_dataloader}}
val_dataloader = {{_base_.demo_val_dataloader}}
test_dataloader = {{_base_.demo_val_dataloader}}
train_cfg = {{_base_.demo_train_cfg}}
param_scheduler = {{_base_.demo_param_scheduler}}
default_hooks = {{_base_.demo_default_hooks}}
optim_wrapper = dict(
    optimizer=dict(lr={{_base_.demo_peft_lr}}),
    paramwise_cfg={{_base_.demo_scaled_adapter_paramwise_cfg}})
