# iConFormer with the kernel generator of the same authors' Dynamic Task
# Filter (TADFormer): a 1x1 convolution of the pooled map and filter
# normalisation of each generated kernel. Otherwise the demo iConFormer.
_base_ = ['./iconformer_swin-t_upernet_demo-target-64x64.py']
model = dict(
    backbone=dict(adapter=dict(generator='conv1x1', kernel_norm='filter')))
