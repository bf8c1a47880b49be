# Mask R-CNN + FPN with Swin-T (ImageNet-1K), 1x schedule: mmdet's config as
# it is, on mmpeft's checked COCO dataset.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py']
# CocoDataset plus a check of every segmentation when the json is parsed: a
# malformed polygon is an error naming the file and the annotation (mmdet
# would drop it silently, or fail late inside mask decoding).
train_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
test_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
