% Reductions whose reach is exactly the tensor, written the ways layers
% write kernels: a flipped kernel w_{K-1-a} (true convolution), an offset
% w_{a-1} with limits 1..K, a centred v_{a+P} from -P to P, the two phases
% of a stride-2 transposed convolution (taps w_{2b} and w_{2b+1} of a
% 2J-long kernel, output n + J - 1 long), a reversed dot product, a
% flattened 2-D sum x_{m a + b} and the last time step h_{T-1}. None may
% be taken for a read outside its tensor.
% test-sizes: n=6, K=3, P=1, J=2, T=3, m=2
input y_j, 0 \le j < n
input h_{t,c}, 0 \le t < T, 0 \le c < m
input z_j, 0 \le j < m T
param w_a, 0 \le a < K
param v_a, 0 \le a \le 2P
param u_a, 0 \le a < 2J
f_i = \sum_{a=0}^{K-1} w_{K-1-a} y_{i+a}
g_i = \sum_{a=1}^{K} w_{a-1} y_{i+a-1} + \sum_{a=-P}^{P} v_{a+P} y_{i+a}, 0 \le i < n
e_i = \sum_{b=0}^{J-1} u_{2b} y_{i-b}, 0 \le i < n + J - 1
o_i = \sum_{b=0}^{J-1} u_{2b+1} y_{i-b}, 0 \le i < n + J - 1
r = \sum_{a=0}^{n-1} y_{n-1-a} y_a + \sum_{a=1}^{K} w_{K-a} w_{a-1}
s = \sum_{a=0}^{T-1} \sum_{b=0}^{m-1} h_{a,b} z_{m a + b} + \sum_c h_{T-1,c} h_{0,c}
output f, g, e, o, r, s
