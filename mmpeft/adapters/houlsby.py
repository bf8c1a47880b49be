r"""Adapter (Houlsby et al., ICML 2019): a bottleneck with its own skip,
on the output of both sub-blocks, before it joins the residual stream.

    A(h) = s * Up(Dropout(act(Down(h))))        Down: C -> d, Up: d -> C

Sequential, after the attention and after the MLP of every block:

    b = DropPath(Attn(LN1 x));   x <- x + (b + A1(b))
    m = DropPath(MLP(LN2 x));    x <- x + (m + A2(m))

Init: Down kaiming_uniform(a=sqrt(5)) with zero bias, Up zero, so each
adapter outputs exactly 0 at init (the paper draws small near-zero weights
for a near-identity start; a zero Up makes it exact). Parameters per
adapter: 2*C*d + d + C, two per block.
"""
from .base import ADAPTERS
from .bottleneck import BottleneckAdapter


@ADAPTERS.register_module()
class HoulsbyAdapter(BottleneckAdapter):
    """Bottleneck adapter with a skip, after attention and after the MLP.

    Args:
        embed_dims (int): Token channels C.
        bottleneck (int): Hidden width d. Defaults to 64.
        act (str): Activation ('gelu', 'relu', 'quick_gelu', 'silu').
            Defaults to 'gelu'.
        dropout (float): Dropout after the activation. Defaults to 0.
        scale (float): Output scale s. Defaults to 1 (the paper has none).
        learnable_scale (bool): Learn s (starting from ``scale``).
    """
    default_position = ('attn_sequential', 'mlp_sequential')
    parallel_reads = 'residual'
    parallel_drop_path = False

    def __init__(self,
                 embed_dims: int,
                 bottleneck: int = 64,
                 act: str = 'gelu',
                 dropout: float = 0.0,
                 scale: float = 1.0,
                 learnable_scale: bool = False):
        super().__init__(embed_dims, bottleneck, act=act, dropout=dropout,
                         scale=scale, learnable_scale=learnable_scale)
        self.reset_parameters()
