r"""VPT-deep (Jia et al., ECCV 2022): learned prompt tokens in every block
of a plain ViT.

For block i with input tokens [prefix, patches] (prefix: the class token):

    [prefix', _, patches'] = Block_i([prefix, Dropout(P_i), patches])

P_i (T x C) are block i's prompts; the prompts' outputs are dropped after
the block, so every block sees fresh prompts, the token count between blocks
and the patch grid stay as they are, and the heads see no prompt.

Init as in the authors' code: uniform(-v, v) with
v = sqrt(6 / (3 * p * p + C)), p the patch size (xavier_uniform for the
patch projection the prompts live beside). Parameters per block: T*C.
Needs blocks where every token attends to the whole sequence (a plain ViT);
Swin's windows have no place for extra tokens.
"""
import math

import torch
import torch.nn as nn

from .base import ADAPTERS


@ADAPTERS.register_module()
class VPTDeep(nn.Module):
    """The prompts of one block.

    Args:
        embed_dims (int): Token channels C.
        num_tokens (int): Prompts per block, T. Defaults to 10.
        dropout (float): Dropout on the prompts. Defaults to 0.
        patch_size (int): Patch size p of the ViT, used only for the init
            range. Defaults to 16.
    """
    attaches_to = 'block'
    position_key = 'position'
    default_position = 'block_input'

    def __init__(self,
                 embed_dims: int,
                 num_tokens: int = 10,
                 dropout: float = 0.0,
                 patch_size: int = 16):
        super().__init__()
        self.patch_size = patch_size
        self.prompts = nn.Parameter(torch.empty(num_tokens, embed_dims))
        self.drop = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        embed_dims = self.prompts.shape[1]
        bound = math.sqrt(6.0 / (3 * self.patch_size**2 + embed_dims))
        nn.init.uniform_(self.prompts, -bound, bound)

    def insert(self, x: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
        """(B, P + N, C) -> (B, P + T + N, C): prompts after the prefix."""
        prompts = self.prompts.to(x.dtype).expand(x.shape[0], -1, -1)
        prompts = self.drop(prompts)  # one draw per sample, as in VPT
        return torch.cat([
            x[:, :num_prefix_tokens], prompts, x[:, num_prefix_tokens:]
        ], dim=1)

    def remove(self, x: torch.Tensor, num_prefix_tokens: int) -> torch.Tensor:
        """Inverse of :meth:`insert`: the prompts' outputs are dropped."""
        end = num_prefix_tokens + self.prompts.shape[0]
        return torch.cat([x[:, :num_prefix_tokens], x[:, end:]], dim=1)
