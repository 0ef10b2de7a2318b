% A plain copy, a weight read at a constant index whose gradient row does
% not depend on its position, and a layer whose tensors start below zero
% (a strided read plus a skip read of the weight's middle tap).
% test-sizes: n=7, K=3
input y_i, -2 \le i \le n
param w_{a,b}, -1 \le a \le 1, 0 \le b < 2
param k_a, 0 \le a < K
x_i = y_i
z_i = x_i + 1
s_i = k_0 y_i
t_{i,c} = \sum_{a} w_{a,c} y_{2i+a-3} + w_{0,c} y_{i}, -1 \le i < n, 0 \le c < 2
output z, s, t
