% Extents that are numbers, not sizes (the generated functions take no
% size at all): loops over literal bounds, a stride-2 read of a weight (a
% transposed convolution's even phase) and of an input, and a weight read
% at a constant index.
% test-sizes: none
input y_j, 0 \le j < 6
param w_a, 0 \le a < 4
u_i = \sum_{0 \le a < 2} w_{2a} y_{i+a}
v_i = y_{2i}
x_i = w_0 y_i
output u, v, x
