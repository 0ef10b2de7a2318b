% Softmax with cross-entropy against soft targets t; the max is subtracted
% for stability (its gradient cancels, as it should).
% test-sizes: n=5
input z_i, 0 \le i < n
const t_i, 0 \le i < n
m = \max_{i} z_i
s_i = \frac{\exp(z_i - m)}{\sum_{j} \exp(z_j - m)}
E = -\sum_{i} t_i \log(s_i)
output E
