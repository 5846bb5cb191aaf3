import numpy as np
import torch

from odinpaint.tensors import quantize_8bit, to_tensor, to_uint8


def test_tensor_round_trip(rng):
    x = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    t = to_tensor(x)
    assert t.shape == (2, 3, 8, 8) and t.min() >= -1 and t.max() <= 1
    np.testing.assert_array_equal(to_uint8(t), x)


def test_quantize_8bit_is_what_a_saved_image_holds():
    t = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2.2 - 1.1  # some out of range
    q = quantize_8bit(t)
    torch.testing.assert_close(q, to_tensor(to_uint8(t)), rtol=0, atol=1e-6)
    assert not torch.equal(q, t.clamp(-1, 1))
