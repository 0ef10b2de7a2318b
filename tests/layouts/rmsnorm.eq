% RMSNorm (LLaMA): x / sqrt(mean(x^2) + eps) * g. A square root of data
% needs positive data in the finite-difference test.
% test-sizes: T=2, n=4
% test-data: positive
input x_{t,i}, 0 \le t < T, 0 \le i < n
param g_i, 0 \le i < n
const \epsilon
r_t = \sqrt{\frac{1}{n} \sum_i x_{t,i}^2 + \epsilon}
y_{t,i} = \frac{x_{t,i}}{r_t} g_i
output y
