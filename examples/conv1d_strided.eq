% A strided, dilated, zero-padded 1-D convolution with bias, in PyTorch's
% conventions: stride s, dilation d, padding p, output length as in
% torch.nn.Conv1d.
% test-sizes: L=11, K=3, s=2, d=2, p=2
input y_j, 0 \le j < L
param w_a, 0 \le a < K
param b
x_i = \sum_{a} w_a y_{s i + d a - p} + b, 0 \le i < \lfloor (L + 2p - d(K-1) - 1)/s \rfloor + 1
