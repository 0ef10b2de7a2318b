% Benchmark workload (issue 5): conv1d, one channel, kernel 7, "valid"
% (output length n - 6, inferred from the reads), no bias.
% Bench shape: n = 2^20.
% test-sizes: n=20
input y_j, 0 \le j < n
param w_a, 0 \le a < 7
x_i = \sum_{a} w_a y_{i+a}
output x
