"""PyTorch's linear layers with simmimd's bf16 arithmetic (train.precision bf16): every product of
a linear layer or the patch embedding — forward, input gradient, weight gradient — takes its two
operands rounded to bf16 (nearest even) and sums in the model's own precision (float64 in the
fixtures); biases, attention's own products and everything else stay unrounded. With
`emulated_bf16()` active, torch.nn.functional.linear and conv2d (the patch embedding: stride =
kernel, no padding) compute so; make_fixtures.py --bf16 writes the bf16 references with it.

This is not PyTorch's autocast, which also keeps activations in bf16: the references must hold
exactly the rounding simmimd does, so that what is left between the two is the order of fp32
summation, not the choice of where to round."""
import contextlib

import torch
import torch.nn.functional as F


def bf16(t):
    """t rounded to bf16 (to nearest even), in t's own dtype."""
    return t.float().to(torch.bfloat16).to(t.dtype)


class Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = bf16(x) @ bf16(weight).t()
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows = grad.reshape(-1, grad.shape[-1])
        grad_x = bf16(grad) @ bf16(weight)
        grad_weight = bf16(rows).t() @ bf16(x.reshape(-1, x.shape[-1]))
        return grad_x, grad_weight, rows.sum(0) if ctx.has_bias else None


class PatchEmbed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride, conv):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.has_bias = stride, bias is not None
        return conv(bf16(x), bf16(weight), bias, stride)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = torch.nn.grad.conv2d_input(x.shape, bf16(weight), bf16(grad), stride=ctx.stride)
        grad_weight = torch.nn.grad.conv2d_weight(bf16(x), weight.shape, bf16(grad), stride=ctx.stride)
        return grad_x, grad_weight, grad.sum((0, 2, 3)) if ctx.has_bias else None, None, None


@contextlib.contextmanager
def emulated_bf16():
    linear, conv2d = F.linear, F.conv2d

    def patch_embed(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if padding not in (0, (0, 0), "valid") or dilation not in (1, (1, 1)) or groups != 1:
            raise ValueError("emulated_bf16: only a patch embedding's convolution")
        return PatchEmbed.apply(x, weight, bias, stride, conv2d)

    F.linear = lambda x, weight, bias=None: Linear.apply(x, weight, bias)
    F.conv2d = patch_embed
    try:
        yield
    finally:
        F.linear, F.conv2d = linear, conv2d
