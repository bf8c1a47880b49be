"""Parameter report of a whole model: backbone, adapters, neck and heads."""
import torch.nn as nn

from .backbones.peft_backbone import count


def model_param_report(model: nn.Module) -> dict:
    """Counts for a model with a ``backbone`` (segmentor, detector,
    classifier, depth estimator).

    Keys: backbone_params (backbone without adapters), adapter_params,
    adapter_percent (of backbone_params), backbone_other_trainable
    (trainable backbone parameters that are not adapters), head_trainable
    (trainable parameters outside the backbone: neck and heads).
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise AttributeError(f'{type(model).__name__} has no backbone')
    if hasattr(backbone, 'peft_report'):
        report = backbone.peft_report()
    else:
        params = list(backbone.parameters())
        report = dict(
            backbone_params=count(params),
            adapter_params=0,
            adapter_percent=0.0,
            adapter_trainable=0,
            backbone_other_trainable=count(p for p in params
                                           if p.requires_grad))
    in_backbone = {id(p) for p in backbone.parameters()}
    report['head_trainable'] = count(
        p for p in model.parameters()
        if p.requires_grad and id(p) not in in_backbone)
    return report
