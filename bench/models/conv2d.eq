% Benchmark workload (issue 5): conv2d, NCHW, K output channels, 3x3 kernel,
% stride 1, zero padding 1 (the output's written range is the input's
% H x W; reads outside y are zero), no bias.
% Bench shape: N=8, C=K=64, H=W=56.
% test-sizes: N=2, C=3, K=2, H=5, W=4
input y_{n,c,p,q}, 0 \le n < N, 0 \le c < C, 0 \le p < H, 0 \le q < W
param w_{k,c,a,b}, 0 \le k < K, 0 \le c < C, 0 \le a < 3, 0 \le b < 3
x_{n,k,i,j} = \sum_{c,a,b} w_{k,c,a,b} y_{n,c,i+a-1,j+b-1}, 0 \le n < N, 0 \le k < K, 0 \le i < H, 0 \le j < W
output x
