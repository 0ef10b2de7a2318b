% Every built-in function once, with powers, quotients and a binary max.
% test-sizes: n=4, m=3
input x_j, 0 \le j < n
param W_{k,j}, 0 \le k < m, 0 \le j < n
param c_k, 0 \le k < m
z_k = \sum_{j} W_{k,j} x_j + c_k
a_k = \operatorname{softplus}(z_k) + \sqrt{1 + z_k^2} + \exp(-z_k^2) + \log(1 + \sigma(z_k)) \cdot \max(z_k, 0.5) - \frac{z_k}{2 + z_k^2}
E = \sum_{k} a_k^{3/2}
output E
