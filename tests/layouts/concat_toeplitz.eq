% Concatenation written with zero padding (z_i = u_i + v_{i-n} over
% n + m: each read covers part of the range), and a Toeplitz layer whose
% weight index j - i + n - 1 moves with a reduction and the left-hand
% side in opposite directions.
% test-sizes: n=3, m=2
input u_i, 0 \le i < n
input v_i, 0 \le i < m
param w_r, 0 \le r < 2n - 1
z_i = u_i + v_{i-n}, 0 \le i < n + m
t_i = \sum_j w_{j-i+n-1} u_j, 0 \le i < n
output z, t
