"""Parameter report of the model a config builds (no weights are loaded).

    python tools/analysis_tools/count_params.py CONFIG [--json]

Prints: backbone parameters without adapters, adapter parameters, adapter %
of that backbone, other trainable backbone parameters, trainable neck and
head parameters.
"""
import argparse
import json
import logging

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import MODELS, init_default_scope

import mmpeft  # noqa: F401 (registers the wrappers)
from mmpeft.models import model_param_report

ROWS = [
    ('backbone_params', 'backbone parameters (no adapters)'),
    ('adapter_params', 'adapter parameters'),
    ('adapter_percent', 'adapters, % of backbone'),
    ('backbone_other_trainable', 'other trainable backbone parameters'),
    ('head_trainable', 'trainable neck and head parameters'),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config file')
    parser.add_argument('--json', action='store_true', help='print JSON')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, as in tools/train.py')
    return parser.parse_args()


def build_model(cfg: Config):
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    return MODELS.build(cfg.model)


def format_table(report: dict) -> str:
    width = max(len(label) for _, label in ROWS)
    lines = []
    for key, label in ROWS:
        value = report[key]
        text = f'{value:.3f}%' if key == 'adapter_percent' else f'{value:,}'
        lines.append(f'{label:<{width}}  {text:>14}')
    return '\n'.join(lines)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.json:  # keep stdout pure JSON: no build-time log lines
        MMLogger.get_current_instance().setLevel(logging.WARNING)
    report = model_param_report(build_model(cfg))
    public = {key: report[key] for key, _ in ROWS}
    print(json.dumps(public) if args.json else format_table(public))


if __name__ == '__main__':
    main()
