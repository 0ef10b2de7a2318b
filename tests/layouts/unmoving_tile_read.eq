% A tiled row (j, 32 and 8 wide) under a long sum over k whose read
% x_{m,j} does not move with k: its offset stays fixed (no `mut`).
% test-sizes: M=3, J=41, K=4
input x_{m,j}, 0 \le m < M, 0 \le j < J
param u_{k,m}, 0 \le k < K, 0 \le m < M
z_{k,j} = \sum_m u_{k,m} \tanh(x_{m,j})
output z
