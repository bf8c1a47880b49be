# iConFormer in the frozen source-pretrained tiny Swin, Mask R-CNN on the
# synthetic COCO-format target task. The real Swin-T 1x config, shrunk by
# ./_base_/det_demo.py.
_base_ = [
    '../iconformer/iconformer_swin-t-in1k-pre_mask-rcnn_fpn_8xb2-1x_coco.py',
    './_base_/det_demo.py'
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
log_processor = {{_base_.demo_log_processor}}
optim_wrapper = dict(optimizer=dict(lr={{_base_.demo_lr}}))
