r"""E3VA (Yin et al., ACM MM 2024, "Parameter-efficient is not sufficient:
Exploring parameter, memory, and time efficient adapter tuning for dense
predictions"): adapters on a side path whose gradients never pass through
the frozen backbone.

What the paper states: a gradient "highway" runs parallel to the Swin
blocks; the intermediate activations of each block's (S)W-MSA and MLP are
sent to low-rank adapters placed in parallel (not stacked) on that highway;
the highway has downsampling layers inherited from the backbone and joins
the FPN through a trainable norm. No public code was found; this project's
reading (see docs/adapters.md, "E3VA"):

* per block, one adapter reads the attention branch's output, one the MLP
  branch's output (``sources``; the two adapters per block we read in the
  paper's "dual low-rank" structure), both detached from the backbone:  a_b = A_attn(sg(Attn_b)) + A_mlp(sg(MLP_b));
* the highway of stage s sums them: h_s = carry_s + sum_b a_b, where
  carry_s is what the previous stage's highway becomes after the
  backbone's own (frozen) patch merging, taken as a difference so that it
  is exactly 0 while the highway is:  carry_{s+1} = M_s(x_s + h_s) - M_s(x_s);
* the stage output the decoder sees is Norm_s(x_s + h_s), Norm_s the
  backbone's output norm of that stage (trainable when the config lists it
  in ``extra_trainable``, as our configs do);
* x_s, the frozen stream, is never changed: the next stage reads the frozen
  x_s, so backward runs through the adapters, the patch mergings of the
  highway and the output norms only, and no block of the backbone keeps an
  activation for it.

Each adapter is a bottleneck  A(x) = s * Up(Dropout(ReLU(Down(x))))  with
Up zero-initialised, so the model starts as the frozen one. The wiring is
``mmpeft.models.side_path``; this class is the adapter alone. Parameters
per adapter: 2*C*d + d + C; with d = 24 on Swin-B (two per block) about
1.18M, next to the 1.20M V-PETL Bench reports for E3VA.
"""
from .base import ADAPTERS
from .bottleneck import BottleneckAdapter


@ADAPTERS.register_module()
class E3VA(BottleneckAdapter):
    """A low-rank adapter of the E3VA side path.

    Args:
        embed_dims (int): Token channels C of the block it reads.
        bottleneck (int): Hidden width d. Defaults to 24.
        scale (float): Output scale s. Defaults to 0.1.
        learnable_scale (bool): Learn s (starting from ``scale``).
        dropout (float): Dropout after the activation. Defaults to 0.1.

    The config key ``sources`` names what each block feeds the side path:
    'attn' (the attention branch's output) and/or 'mlp' (the MLP branch's
    output, before the residual add).
    """
    attaches_to = 'side'
    position_key = 'sources'
    default_position = ('attn', 'mlp')

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int = 24,
                 scale: float = 0.1,
                 learnable_scale: bool = False,
                 dropout: float = 0.1):
        super().__init__(embed_dims, bottleneck, act='relu', dropout=dropout,
                         scale=scale, learnable_scale=learnable_scale)
        self.reset_parameters()
