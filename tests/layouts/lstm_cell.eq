% One LSTM step with the four gates stacked in one 4h-long vector z: each
% gate is read at z_{i + k h} (an offset that is a multiple of a size),
% and the cell state feeds the second output.
% test-sizes: n=3, h=2
input x_j, 0 \le j < n
input p_k, 0 \le k < h
input c_k, 0 \le k < h
param W_{r,j}, 0 \le r < 4h, 0 \le j < n
param U_{r,k}, 0 \le r < 4h, 0 \le k < h
param b_r, 0 \le r < 4h
z_r = \sum_j W_{r,j} x_j + \sum_k U_{r,k} p_k + b_r
f_i = \sigma(z_{i+h}) c_i + \sigma(z_i) \tanh(z_{i+2h}), 0 \le i < h
o_i = \sigma(z_{i+3h}) \tanh(f_i)
output f, o
