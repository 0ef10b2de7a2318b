% Bounds and limits that multiply sizes: a valid dilated convolution whose
% output length L - d(K-1) is written out, and a reduction over the first
% d K elements of a window. Index expressions stay affine (d a: one size).
% test-sizes: L=13, K=3, d=2
input y_j, 0 \le j < L
param w_a, 0 \le a < K
x_i = \sum_{a} w_a y_{i + d a}, 0 \le i < L - d(K-1)
u_i = \sum_{b=0}^{d K - 1} y_{i+b}, 0 \le i < L - d K + 1
output x, u
