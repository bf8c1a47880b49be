import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'mmpeft', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(name):
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


setup(
    name='mmpeft',
    version=read_version(),
    description='Parameter-efficient fine-tuning of vision Transformers '
    'for dense prediction, on OpenMMLab',
    packages=find_packages(include=['mmpeft', 'mmpeft.*']),
    python_requires='>=3.9',
    install_requires=read_requirements('runtime.txt') + ['mmcv>=2.0.0,<2.2.0'],
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache License 2.0',
    zip_safe=False,
)
