% A maximum whose read moves with two left-hand indices (x_{i+j+a}): range
% inference bounds i and j by the other reads only, so this read leaves x
% when L < 2n (zero padding), and the backward must test the winner's
% index instead of taking it for inside (it used to index past the end).
% test-sizes: L=4, n=3
input x_p, 0 \le p < L
input z_i, 0 \le i < n
y_{i,j} = \max_{0 \le a < 2} x_{i+j+a} + z_i z_j
output y
