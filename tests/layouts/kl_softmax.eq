% KL divergence between a target distribution q (const) and softmax(z),
% through a log-sum-exp: the logarithm of data needs positive data in
% the finite-difference test.
% test-sizes: n=4
% test-data: positive
input z_i, 0 \le i < n
const q_i, 0 \le i < n
l = \log \sum_i \exp(z_i)
E = \sum_i q_i (\log q_i - z_i + l)
output E
