% A stride written times a bracketed sum, s(i + a) = s i + s a: a strided
% convolution whose kernel taps are s apart too (dilation = stride).
% test-sizes: L=17, s=2
input y_j, 0 \le j < L
param w_a, 0 \le a < 3
x_i = \sum_a w_a y_{s(i+a)}, 0 \le i < 4
output x
