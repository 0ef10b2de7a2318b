% Maxima whose windows reach past the tensor (zero padding): the padded
% reads win (the real values are negative), so the backward must skip the
% write to the winner rather than index past the end; a window that only
% mentions the reduction variable (x_a) is not covered by range inference.
% A reduction-only read that is outside for every size is an error, so
% the reach here depends on the sizes (K > n - 1 and J < 3 in the test).
% test-sizes: n=3, K=5, J=2
input x_p, 0 \le p < n
input v
param w_a, 0 \le a < J
m = \max_{a=0}^{K} (-x_a x_a)
u = \max_{a=0}^{2} (-v v w_a w_a)
t_i = \max_{a=0}^{2} x_{i+a}, 0 \le i < n
output m, u, t
