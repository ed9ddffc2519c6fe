"""Tests for mlbook.tensors: checked against hand derivatives and torch.autograd.gradcheck."""

import pytest
import torch

from mlbook.tensors import (
    autograd_gradient,
    check_gradient,
    example_function,
    example_gradient,
    numerical_gradient,
)


def test_numerical_gradient_matches_the_hand_derivative():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    torch.testing.assert_close(numerical_gradient(example_function, x), example_gradient(x), rtol=1e-6, atol=1e-8)


def test_matrix_input_keeps_its_shape():
    A = torch.randn(3, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # d/dA sum(A^3) = 3 A^2
    grad = numerical_gradient(lambda a: (a**3).sum(), A)
    assert grad.shape == A.shape
    torch.testing.assert_close(grad, 3 * A**2, rtol=1e-6, atol=1e-8)


def test_autograd_gradient_agrees_with_torch_gradcheck():
    x = torch.rand(6, generator=torch.Generator().manual_seed(1), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(example_function, (x,))
    torch.testing.assert_close(autograd_gradient(example_function, x), example_gradient(x.detach()))


def test_check_gradient_passes_for_a_correct_gradient_and_leaves_x_alone():
    x = torch.tensor([0.5, -1.0, 2.0])
    result = check_gradient(lambda t: (torch.exp(t) / (1 + t**2)).sum(), x)
    assert result.passed and result.max_abs_error < 1e-7
    assert x.grad is None and not x.requires_grad


def test_check_gradient_catches_a_wrong_gradient():
    # A function whose backward is deliberately wrong: autograd and finite differences must disagree.
    class WrongSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return (t**2).sum()

        @staticmethod
        def backward(ctx, grad_output):
            (t,) = ctx.saved_tensors
            return grad_output * 3 * t  # should be 2 t

    result = check_gradient(WrongSquare.apply, torch.tensor([1.0, 2.0]))
    assert not result.passed
    assert result.max_abs_error == pytest.approx(2.0, rel=1e-4)


@pytest.mark.parametrize(
    "f, x, h, message",
    [
        (example_function, torch.tensor([1, 2]), 1e-6, "floating-point"),
        (example_function, torch.tensor([]), 1e-6, "empty"),
        (example_function, torch.tensor([float("nan")]), 1e-6, "NaN"),
        (example_function, torch.tensor([1.0]), 0.0, "h \\(the finite-difference step\\) must be"),
        ("not callable", torch.tensor([1.0]), 1e-6, "must be a function"),
        (lambda t: t * 2, torch.tensor([1.0, 2.0]), 1e-6, "single number"),
        (example_function, [1.0, 2.0], 1e-6, "torch.Tensor"),
    ],
)
def test_bad_inputs_raise_clear_errors(f, x, h, message):
    with pytest.raises(ValueError, match=message):
        numerical_gradient(f, x, h)


@pytest.mark.parametrize("view", [lambda W: W.T, lambda W: W[:, ::2], lambda W: W.double().T])
def test_numerical_gradient_of_a_non_contiguous_view_matches_autograd(view):
    """A transposed or strided input (erratum T4: its gradient used to come back all zeros)."""
    W = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    x = view(W)
    assert not x.is_contiguous()
    before = x.clone()

    def f(t):
        return (t**3).sum() + t[0, 0] * t[-1, -1]

    torch.testing.assert_close(numerical_gradient(f, x), autograd_gradient(f, x), rtol=1e-6, atol=1e-6)
    assert torch.equal(x, before), "the input must be left as it was"


def test_the_step_is_called_h_and_the_command_line_takes_it(capsys):
    """Erratum X6: the finite-difference step is h (epsilon is Adam's stabiliser)."""
    from mlbook.tensors import main

    x = torch.tensor([0.3, -1.2], dtype=torch.float64)
    torch.testing.assert_close(
        numerical_gradient(example_function, x, h=1e-4), example_gradient(x), rtol=1e-6, atol=1e-7
    )
    assert check_gradient(example_function, x, h=1e-5).passed
    assert main(["--dry-run", "--step", "1e-5"]) == 0
    assert "gradient check passed" in capsys.readouterr().out
