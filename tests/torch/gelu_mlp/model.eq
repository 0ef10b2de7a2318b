% A two-layer perceptron with the tanh approximation of GELU (as in
% torch.nn.functional.gelu(approximate='tanh')), written as a user function
% with the constant \pi.
% test-sizes: n=4, m=3
input x_j, 0 \le j < n
param W_{k,j}, 0 \le k < m, 0 \le j < n
param v_k, 0 \le k < m
g(z) = \frac{1}{2} z \left(1 + \tanh\left(\sqrt{2/\pi} \left(z + 0.044715 z^3\right)\right)\right)
h_k = g\left(\sum_j W_{k,j} x_j\right)
E = \sum_k v_k h_k
